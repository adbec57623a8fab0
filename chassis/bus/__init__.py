"""The event bus: envelope, transports (RabbitMQ and in-process), outbox relay and consumers."""
