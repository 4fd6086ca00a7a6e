"""Setting a ledger up: deploy and bootstrap (the operator), the demo consortium of the embedded
gateway and its credentials file, the ledger-only demo."""
