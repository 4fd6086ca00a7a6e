"""/metrics: Prometheus text with request latency, ledger transaction latency and the indexer."""

from __future__ import annotations

from tests.api.conftest import Gateway


def _scrape(gw: Gateway) -> str:
    answer = gw.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return str(answer.text)


def test_metrics_after_a_read_and_a_write(gw: Gateway) -> None:
    assert gw.get("core", "/v1/members").status_code == 200
    gw.issue()
    text = _scrape(gw)
    assert (
        'credchain_http_request_duration_seconds_count{method="GET",route="/v1/members",status="200"} 1.0'
        in text
    )
    assert (
        'credchain_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/notes",status="201"}'
        in text
    )
    assert 'credchain_ledger_transaction_duration_seconds_count{outcome="ok"} 1.0' in text
    assert "credchain_indexer_lag_blocks 0.0" in text
    assert "credchain_indexer_last_block " in text
    assert "credchain_indexer_events_applied_total " in text


def test_route_label_is_the_template_not_the_path(gw: Gateway) -> None:
    note_id = gw.issue()
    assert gw.get("s1", f"/v1/notes/{note_id}").status_code == 200
    assert gw.client.get("/no/such/path").status_code == 404
    text = _scrape(gw)
    assert 'route="/v1/notes/{note_id}",status="200"' in text
    assert f'/v1/notes/{note_id}"' not in text
    assert 'route="<unmatched>",status="404"' in text


def test_each_app_has_its_own_registry(gw: Gateway) -> None:
    from service.api.metrics import Metrics

    other = Metrics()
    assert other.registry is not gw.context.metrics.registry
    assert b"credchain_http_request_duration_seconds_count{" not in other.exposition()[0]
