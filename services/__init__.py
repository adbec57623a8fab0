"""The bounded contexts. Each imports the chassis and generated stubs, never another service."""
