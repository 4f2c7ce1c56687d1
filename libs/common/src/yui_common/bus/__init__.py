"""The RabbitMQ bus: topology, publisher and consumer runner."""
