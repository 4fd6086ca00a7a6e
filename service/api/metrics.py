"""Prometheus metrics of one gateway, in a registry of its own (several apps may share a process).

Request latency is observed by `service.api.observe`, ledger transaction latency by
`service.api.writes.send`; the indexer's position and the reorganisations in the journal (rolled
back by whichever process follows the chain) are read at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from service.indexer.indexer import Indexer

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LEDGER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _IndexerCollector(Collector):
    """The indexer's last applied block, its lag behind the head and the events it has applied."""

    def __init__(self, indexer: Indexer, head: Callable[[], int]) -> None:
        self._indexer = indexer
        self._head = head

    def collect(self) -> Iterator[Metric]:
        try:
            last = self._indexer.last_block()
        except Exception:  # the database is down: readiness says so, the scrape still answers
            last = None
        try:
            head = self._head()
        except Exception:  # the node is down
            head = None
        if last is not None:
            yield GaugeMetricFamily(
                "credchain_indexer_last_block", "Last block fully applied to the index", value=last
            )
        if last is not None and head is not None:
            yield GaugeMetricFamily(
                "credchain_indexer_lag_blocks",
                "Blocks between the chain head and the last block applied",
                value=max(0, head - last),
            )
        if head is not None:
            yield GaugeMetricFamily(
                "credchain_chain_head_block", "The chain head seen by the gateway", value=head
            )
        stats = self._indexer.stats
        yield CounterMetricFamily(
            "credchain_indexer_events_applied",
            "Ledger events applied by this process's indexer",
            value=stats.events,
        )
        yield CounterMetricFamily(
            "credchain_indexer_reorgs",
            "Reorganisations rolled back by this process's indexer",
            value=stats.reorgs,
        )
        try:
            reorgs = self._indexer.store.reorgs()
        except Exception:  # the database is down
            return
        yield CounterMetricFamily(
            "credchain_reorgs",
            "Reorganisations rolled back by any process (the reorganisation journal in SQL)",
            value=reorgs.count,
        )
        if reorgs.last_fork_block is not None:
            yield GaugeMetricFamily(
                "credchain_reorg_last_fork_block",
                "Fork block (highest block kept) of the latest reorganisation in the journal",
                value=reorgs.last_fork_block,
            )


class _FollowerCollector(Collector):
    """Whether this process follows the chain head (holds the follower role)."""

    def __init__(self, active: Callable[[], bool]) -> None:
        self._active = active

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "credchain_follower_active",
            "1 if this gateway process follows the chain head into the index (the follower role), else 0",
            value=1 if self._active() else 0,
        )


class Metrics:
    """The registry and instruments of one gateway."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "credchain_http_request_duration_seconds",
            "HTTP request latency by route template, method and status",
            ["method", "route", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.ledger_tx_seconds = Histogram(
            "credchain_ledger_transaction_duration_seconds",
            "Latency of ledger transactions sent by the gateway (sign, send, receipt), by outcome",
            ["outcome"],
            buckets=LEDGER_BUCKETS,
            registry=self.registry,
        )
        self.provenance_cache = Counter(
            "credchain_provenance_cache_requests",
            "Provenance answers taken from this process's cache (hit) or rendered from SQL (miss)",
            ["result"],
            registry=self.registry,
        )
        self._indexer_registered = False
        self._follower_registered = False

    def watch_indexer(self, indexer: Indexer, head: Callable[[], int]) -> None:
        """Report `indexer`'s position at every scrape (once per registry)."""
        if not self._indexer_registered:
            self.registry.register(_IndexerCollector(indexer, head))
            self._indexer_registered = True

    def watch_follower(self, active: Callable[[], bool]) -> None:
        """Report at every scrape whether this process holds the follower role (`active()`)."""
        if not self._follower_registered:
            self.registry.register(_FollowerCollector(active))
            self._follower_registered = True

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
