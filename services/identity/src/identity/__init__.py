"""Yui identity: networks, facilities, staff accounts, login, our certificate authority, tokens."""
