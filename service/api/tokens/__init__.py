"""Settlement tokens: registration, deposits, payouts, allowances and accounts."""
