"""Payments' rules, with no I/O: the double-entry ledger, commissions and earnings."""
