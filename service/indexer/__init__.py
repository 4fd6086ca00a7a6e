"""The indexer: contract events into SQL, one transaction per batch, with reorg handling, and the
reconciliation of SQL against the chain's state."""

from service.indexer.indexer import Indexer, IndexerConfig, Outcome, SyncResult, http_web3
from service.indexer.reorg import ReorgTooDeep

__all__ = ["Indexer", "IndexerConfig", "Outcome", "ReorgTooDeep", "SyncResult", "http_web3"]
