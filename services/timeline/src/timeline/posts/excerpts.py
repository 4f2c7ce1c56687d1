"""What a notification quotes of a post (issue 10): its first characters, whitespace collapsed."""

EXCERPT_LENGTH = 80


def excerpt_of(body: str) -> str:
    """The body's first EXCERPT_LENGTH characters with every run of whitespace (newlines too) one space."""
    return " ".join(body.split())[:EXCERPT_LENGTH]
