"""Consumers of the timeline service."""
