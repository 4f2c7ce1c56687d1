"""The keys that sign access tokens: the JWKS the other services verify with, rotation and retirement."""
