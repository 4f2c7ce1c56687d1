"""Backup and restore of a whole Yui deployment: databases, object store, broker definitions and the CA."""
