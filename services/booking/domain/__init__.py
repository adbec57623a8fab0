"""Booking's domain: pure rules on plain objects; no database, no clock but the now passed in."""
