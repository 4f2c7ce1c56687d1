"""Reads and posts on behalf of a peer network's staff, carried by a grant the home federation service signs."""
