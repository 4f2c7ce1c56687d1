"""Referrals (紹介): a subject shared with a facility of a peer network, read and answered from there (issue 12)."""
