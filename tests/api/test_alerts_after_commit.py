"""The early-warning rules off the write's path, an operator's choice
(`CREDCHAIN_ALERTS_AFTER_COMMIT=true`, with the scheduler running): while the gateway runs, an index
batch no longer evaluates the rules in its own transaction; the alert scheduler's thread evaluates
what the batch touched right after its commit. By default the batch evaluates them itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.alerts.backlog import AlertBacklog
from service.alerts.hook import evaluate_alerts
from service.events.derive import derive_domain_events
from tests.api.conftest import LIMIT, Gateway, _Template, configured_gateway

WARNING_SHARE = 85  # % of the core's credit limit: above the 80 % warning, below the 95 % critical


@pytest.fixture
def deferred(_template: _Template, tmp_path: Path) -> Iterator[Gateway]:
    with configured_gateway(_template, tmp_path, alerts_after_commit=True) as gateway:
        yield gateway


def utilisation_alerts(gw: Gateway) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = gw.get("operator", "/v1/alerts", rule="utilisation").json()["items"]
    return [a for a in items if a["status"] != "resolved"]


def issue_most_of_the_limit(gw: Gateway) -> None:
    answer = gw.post("core", "/v1/notes", gw.issue_body("s1", str(LIMIT * WARNING_SHARE // 100)))
    assert answer.status_code == 201, answer.text


def test_while_the_gateway_runs_the_batch_leaves_the_rules_to_the_scheduler(deferred: Gateway) -> None:
    store = deferred.context.indexer.store
    assert store.batch_hooks == (derive_domain_events,)
    assert [type(hook.__self__) for hook in store.committed_hooks] == [AlertBacklog]  # type: ignore[attr-defined]


def test_a_batch_that_crosses_a_threshold_raises_its_alert_right_after_its_commit(deferred: Gateway) -> None:
    issue_most_of_the_limit(deferred)
    deadline = time.monotonic() + 10
    while not utilisation_alerts(deferred) and time.monotonic() < deadline:
        time.sleep(0.02)
    [alert] = utilisation_alerts(deferred)
    assert alert["severity"] == "warning" and alert["obligor"] == deferred.addresses["core"]
    assert alert["figures"]["utilisation_bps"] == WARNING_SHARE * 100


def test_the_store_evaluates_in_the_batch_again_once_the_gateway_stops(
    _template: _Template, tmp_path: Path
) -> None:
    with configured_gateway(_template, tmp_path, alerts_after_commit=True) as gw:
        store = gw.context.indexer.store
        assert evaluate_alerts not in store.batch_hooks
    assert store.batch_hooks == (derive_domain_events, evaluate_alerts)
    assert store.committed_hooks == ()


def test_by_default_the_batch_raises_the_alert_in_its_own_transaction(gw: Gateway) -> None:
    assert gw.context.indexer.store.batch_hooks == (derive_domain_events, evaluate_alerts)
    issue_most_of_the_limit(gw)
    [alert] = utilisation_alerts(gw)  # no wait: committed with the batch the write waited for
    assert alert["severity"] == "warning"
