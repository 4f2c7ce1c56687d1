"""Yui federation: agreements with neighbouring networks and the signed messages that cross between them."""
