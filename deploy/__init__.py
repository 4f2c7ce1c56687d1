"""Deployment helpers of Yui: local run, gateway rendering (importable so tests can reuse them)."""
