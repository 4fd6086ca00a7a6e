"""Ledger-wide rules the operator sets (the minimum part amount per currency)."""
