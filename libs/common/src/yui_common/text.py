"""Constraints of text that people type, one rule for every service's models: stored without surrounding
spaces, and a name must hold something besides them (``\\S``, in the schema too, so a client learns it from
the OpenAPI document). Use as ``Annotated[str, named(200)]`` or ``Annotated[str, free_text(500)]``."""

from __future__ import annotations

from pydantic import StringConstraints


def named(limit: int) -> StringConstraints:
    """A name, a kana, a relation, a substance: required, not blank, at most ``limit`` characters."""
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=limit, pattern=r"\S")


def free_text(limit: int) -> StringConstraints:
    """Text that may be empty, stripped, at most ``limit`` characters."""
    return StringConstraints(strip_whitespace=True, max_length=limit)
