"""Payments: the double-entry ledger of money moving between clients, practitioners, the platform and the outside world."""
