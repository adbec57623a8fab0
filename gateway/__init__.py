"""The REST edge: FastAPI translating /api/v1 to gRPC, and gRPC status to problem+json."""
