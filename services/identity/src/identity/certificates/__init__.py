"""Client certificates (I2, S1): the deployment's CA, access codes, issuing, revoking and the login binding."""
