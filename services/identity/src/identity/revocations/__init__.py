"""Revocations every service must hold before identity answers (issue 14, finding 1): tracking and waiting."""
