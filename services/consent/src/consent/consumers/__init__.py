"""Consumers of the consent service."""
