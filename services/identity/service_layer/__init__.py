"""Identity's use cases, one module per aggregate: accounts (a person's own account),
sessions (signing in and the tokens that carry it) and administration (staff acting on
accounts, and the audit log). Each use case is one unit of work; the rules are the domain's,
every query the repository's."""
