"""The microservice chassis: what every Estuary service shares. It imports no service."""
