"""Ending a network (issue 11, ten4): its export for the municipality and its deletion, tracked per service."""
