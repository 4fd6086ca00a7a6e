"""credchain: credit notes on a permissioned ledger, with a REST gateway and an SQL indexer."""
