"""rel1's soak: a deployment of its own (PostgreSQL cluster, RabbitMQ node, service processes), load and checks."""
