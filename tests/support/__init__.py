"""Test support: the real infrastructure (PostgreSQL, RabbitMQ, S3) and the in-process Yui stack."""
