"""SQL side of the service: typed models of the indexed ledger state, sessions, queries."""
