"""Booking: availability, slots, bookings and their state machine, holds and group seats."""
