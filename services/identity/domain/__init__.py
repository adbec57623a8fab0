"""Identity's domain: accounts and their rules (users), what a profile may hold (profile),
passwords and the tokens that stand for them (credentials), and what happened (events).

Pure: no database, no proto, no clock of its own; every instant comes in as `now`.
"""
