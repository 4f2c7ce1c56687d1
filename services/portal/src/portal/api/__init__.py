"""HTTP routers of the portal service."""
