"""Stand-ins for outside parties, speaking each party's real protocol."""
