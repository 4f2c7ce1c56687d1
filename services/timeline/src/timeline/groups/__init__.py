"""Groups (T6): boards not tied to a subject, members by invitation."""
