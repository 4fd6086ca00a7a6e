"""The embedded demo of `credchain run`: the consortium seeded through the gateway's own code,
its credentials file, and every seeded member able to use its key."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.app import create_app
from service.db.models import ObligorCredit
from service.settings import Settings
from service.setup.embedded import embedded_gateway
from service.setup.seed import ACME_CREDIT_LIMIT, DEMO_MIN_PART_AMOUNTS

KEYS = {"operator", "acme", "bank", "gearbox", "castings", "bearings", "auditor"}


def test_the_seeded_embedded_gateway(tmp_path: Path) -> None:
    settings = Settings(
        rpc_url="embedded",
        database_url=f"sqlite:///{tmp_path / 'var' / 'demo.sqlite'}",
        master_secret=SecretStr("demo-secret"),
        key_kdf_iterations=1,
    )
    path = tmp_path / "var" / "demo-credentials.json"
    context, operator_key, seeded = embedded_gateway(settings, seed=True, credentials_path=path)
    try:
        assert seeded is not None
        written = json.loads(path.read_text())
        assert set(written) == KEYS
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert written["operator"]["api_key"] == operator_key
        assert written["acme"]["name"] == "Acme Motors" and written["castings"]["name"] == "Castings Co"
        with TestClient(create_app(context)) as client:
            for short, entry in written.items():
                assert set(entry) >= {"id", "api_key", "address"}
                answer = client.get("/v1/members", headers={"Authorization": f"Bearer {entry['api_key']}"})
                assert answer.status_code == 200, (short, answer.text)
                members = {m["id"]: m for m in answer.json()["items"]}
                assert {e["id"] for e in written.values()} <= set(members)
                assert members[entry["id"]]["address"] == entry["address"]
            acme = written["acme"]
            assert members[acme["id"]]["roles"] == ["core_enterprise"]
            assert members[written["gearbox"]["id"]]["custody"] == "custodial"
            # Acme's limit is in the index: it can issue up to it and not beyond
            headers = {"Authorization": f"Bearer {acme['api_key']}"}
            issue = {
                "to": written["gearbox"]["id"],
                "currency": "USD",
                "maturity": datetime.fromtimestamp(context.chain.now() + 90 * 86_400, UTC).isoformat(),
                "document_hash": "0x" + "ab" * 32,
            }
            over = client.post(
                "/v1/notes", json={**issue, "amount": str(ACME_CREDIT_LIMIT + 1)}, headers=headers
            )
            assert over.status_code == 409, over.text
            assert over.json()["type"].endswith("insufficient-credit-limit")
            with context.session() as session:
                credit = session.get(ObligorCredit, acme["address"])
                assert credit is not None
                assert (credit.credit_limit, credit.outstanding) == (ACME_CREDIT_LIMIT, 0)
            # the demo ledger refuses dust: no note or part below 100.00
            dust = client.post("/v1/notes", json={**issue, "amount": "9999"}, headers=headers)
            assert dust.status_code == 422 and dust.json()["type"].endswith("amount-below-minimum")
            minimums = client.get("/v1/ledger-settings/min-part-amounts", headers=headers).json()["items"]
            assert {(m["currency"], m["amount"]) for m in minimums} == {
                (currency, str(amount)) for currency, amount in DEMO_MIN_PART_AMOUNTS.items()
            }
            ready = client.get("/readyz").json()
            assert ready["status"] == "ok" and ready["checks"]["indexer_lag"] == 0
    finally:
        context.close()


def test_the_embedded_gateway_has_a_funded_relayer_that_is_not_the_operator(tmp_path: Path) -> None:
    settings = Settings(
        rpc_url="embedded",
        database_url=f"sqlite:///{tmp_path / 'var' / 'demo.sqlite'}",
        master_secret=SecretStr("demo-secret"),
        key_kdf_iterations=1,
    )
    context, _operator_key, _ = embedded_gateway(settings, seed=False)
    try:
        relayer = context.relayer()
        assert relayer is not None
        assert relayer.address != context.ledger.operator()
        assert context.chain.w3.eth.get_balance(relayer.address) == settings.funding_wei
        assert context.relayer() is relayer  # one key for the gateway's life
    finally:
        context.close()
