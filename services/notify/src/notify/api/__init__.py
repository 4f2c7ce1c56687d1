"""HTTP routers of the notify service."""
