"""Signed webhooks: what a delivery sends, how it is signed, and what follows each attempt."""
