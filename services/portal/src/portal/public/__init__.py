"""The public site: overview, how to join, the facility directory, notices, terms, inquiries and forms (P1-P6)."""
