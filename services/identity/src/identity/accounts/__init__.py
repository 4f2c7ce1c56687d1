"""Staff accounts (I3-I7): proving who one is, one's own password and authenticator, and managing accounts."""
