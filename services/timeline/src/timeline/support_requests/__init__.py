"""Support requests (T2): a post addressed to a user or a facility, answered and then adopted or declined."""
