"""Tokens: issuing and verifying Estuary's JWTs, and who the caller is."""
