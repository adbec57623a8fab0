"""Catalog's domain: practitioners and their places (practitioners), the category tree
(categories), services of five kinds (services), discovery's choices (discovery), what
happened (events), and each rule's bounds, stated once (bounds).

Pure: nothing here reads a database or a clock. A change other services must hear of
returns its domain event; the unit of work records it and catalog's events.py maps it to
its message.
"""
