"""HTTP routers of the timeline service."""
