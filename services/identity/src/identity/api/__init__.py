"""HTTP routers of the identity service."""
