"""Payments: the double-entry ledger and the money between clients and practitioners."""
