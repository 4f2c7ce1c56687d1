"""Which CAs the gateway's peer port admits client certificates from: the trust bundle and its publication."""
