"""Identity: users, credentials, roles, sessions, signing keys and the staff's audit log."""
