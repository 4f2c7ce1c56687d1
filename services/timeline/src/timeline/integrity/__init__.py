"""Integrity (T5): signed post versions and files, and checking them again."""
