"""Participation figures: who received an alert, who clicked, who acted, who has not.

Read-only queries over deliveries, response events, action reports and replies, each
scoped to what the caller may see (app/accounts/scoping.py) and counted in the
database.
"""
