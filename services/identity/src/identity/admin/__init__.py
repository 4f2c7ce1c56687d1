"""The operators' and contractors' admin UI (server-rendered, Japanese first) under /admin."""
