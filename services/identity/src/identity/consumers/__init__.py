"""identity's consumers: the services' acknowledgements that their deny lists hold a revocation."""
