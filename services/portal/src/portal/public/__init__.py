"""The public site: overview, joining, the facility directory, notices, terms, inquiries, forms (P1-P6)."""
