"""`http_chain` against a real anvil node: the chain id is asked for once, not before every call."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from service.ledger.chain import Chain, http_chain


def test_the_chain_id_is_asked_once_not_before_every_estimate(
    anvil: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = http_chain(str(anvil.w3.provider.endpoint_uri))  # type: ignore[attr-defined]
    sender, receiver = anvil.w3.eth.accounts[:2]
    methods: list[str] = []
    post = requests.Session.post

    def counting(self: requests.Session, url: str, data: Any = None, **kwargs: Any) -> Any:
        methods.append(json.loads(data)["method"])
        return post(self, url, data=data, **kwargs)

    monkeypatch.setattr(requests.Session, "post", counting)
    chain.w3.eth.estimate_gas({"from": sender, "to": receiver, "value": 1})
    methods.clear()
    for _ in range(3):
        chain.w3.eth.estimate_gas({"from": sender, "to": receiver, "value": 1})
        chain.w3.eth.call({"from": sender, "to": receiver})
    assert methods == ["eth_estimateGas", "eth_call"] * 3
