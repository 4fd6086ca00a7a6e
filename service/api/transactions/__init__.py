"""/v1/transactions/{hash}: the fate of a ledger transaction."""
