"""Ledger side of the service: contract artifacts, compilation and the typed web3 client."""
