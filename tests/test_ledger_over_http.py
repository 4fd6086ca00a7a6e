"""The ledger client against a real anvil node over HTTP, where it asks the node directly (one
JSON-RPC request per step, no web3.py middleware): reverts still surface as the contract's typed
errors before anything is sent, receipts decode into the same results, an unreachable node is
`LedgerUnavailable`, and the chain id is asked once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from eth_abi import encode
from eth_utils import keccak

from service.ledger.abi_codec import ErrorDecoder
from service.ledger.chain import Chain, http_chain
from service.ledger.client import LedgerClient
from service.ledger.errors import AmountsDoNotSum, LedgerError, LedgerUnavailable, NotHolder, UnknownRevert
from service.ledger.jsonrpc import JsonRpc, NodeHttpError, NodeUnreachable
from service.ledger.sender import NodeRpc, revert_abi
from service.ledger.types import SplitPart
from tests.anvil import free_port
from tests.consortium import Consortium, deploy_consortium


@pytest.fixture(scope="module")
def consortium(anvil: Chain) -> Iterator[Consortium]:
    yield deploy_consortium(anvil, n_suppliers=2)


def test_the_ledger_client_over_http_asks_the_node_directly(consortium: Consortium) -> None:
    assert consortium.ledger.sender.node is not None


def test_a_split_over_http_answers_the_new_notes_from_the_receipt(consortium: Consortium) -> None:
    c = consortium
    note = c.active_note(1_000)
    nonce = c.chain.w3.eth.get_transaction_count(c.suppliers[0].address)
    result = c.ledger.split(
        c.suppliers[0], note, [SplitPart(c.suppliers[1].address, 600), SplitPart(c.suppliers[0].address, 400)]
    )
    children = result.created_note_ids()
    assert [c.ledger.get_note(n).amount for n in children] == [600, 400]
    assert c.ledger.get_note(children[0]).holder == c.suppliers[1].address
    receipt = c.chain.w3.eth.get_transaction_receipt(result.tx_hash)
    assert receipt["blockNumber"] == result.block_number and receipt["gasUsed"] == result.gas_used
    assert c.chain.w3.eth.get_transaction_count(c.suppliers[0].address) == nonce + 1


def test_a_revert_over_http_is_the_contracts_error_with_its_arguments_and_sends_nothing(
    consortium: Consortium,
) -> None:
    c = consortium
    note = c.active_note(1_000)
    nonce = c.chain.w3.eth.get_transaction_count(c.suppliers[1].address)
    with pytest.raises(NotHolder) as refused:
        c.ledger.transfer(c.suppliers[1], note, c.suppliers[0].address)
    assert refused.value.arguments["noteId"] == note
    with pytest.raises(AmountsDoNotSum):
        c.ledger.split(c.suppliers[0], note, [SplitPart(c.suppliers[1].address, 1)] * 2)
    assert c.chain.w3.eth.get_transaction_count(c.suppliers[1].address) == nonce


def test_an_unreachable_node_is_ledger_unavailable(consortium: Consortium) -> None:
    down = http_chain(f"http://127.0.0.1:{free_port()}", timeout=1)
    ledger = LedgerClient(down.w3, consortium.ledger.address)
    with pytest.raises(LedgerUnavailable):
        ledger.accept(consortium.suppliers[0], 1 << 32)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"code": -32000, "message": "nonce too low"}, LedgerError),
        ({"code": 3, "message": "execution reverted"}, UnknownRevert),
        ({"code": 3, "message": "execution reverted", "data": "0x"}, UnknownRevert),
        ({"code": 3, "message": "execution reverted", "data": {"data": "0x12345678"}}, UnknownRevert),
    ],
)
def test_a_json_rpc_error_object_becomes_a_ledger_exception(
    anvil: Chain, error: dict[str, Any], expected: type[LedgerError]
) -> None:
    problem = NodeRpc(anvil.w3, ErrorDecoder(revert_abi())).error(error)
    assert type(problem) is expected


def test_a_revert_with_data_nested_or_not_is_decoded(anvil: Chain) -> None:
    node = NodeRpc(anvil.w3, ErrorDecoder(revert_abi()))
    holder = "0x" + "11" * 20
    data = (
        "0x"
        + (keccak(text="NotHolder(uint256,address)")[:4] + encode(["uint256", "address"], [7, holder])).hex()
    )
    for error in (
        {"code": 3, "data": data},
        {"code": 3, "message": "execution reverted", "data": {"data": data}},
    ):
        decoded = node.error(error)
        assert isinstance(decoded, NotHolder) and decoded.arguments["noteId"] == 7, error


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


# ------------------------------------------------------------------ the JSON-RPC transport
def test_json_rpc_answers_a_request_and_a_batch_in_the_order_asked(anvil: Chain) -> None:
    rpc = JsonRpc(anvil.w3)
    head = int(rpc.request("eth_blockNumber", [])["result"], 16)
    answers = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in (head, 0, head)])
    assert isinstance(answers, list)
    assert [int(a["result"]["number"], 16) for a in answers] == [head, 0, head]
    assert "error" in rpc.request("eth_noSuchMethod", [])


def test_json_rpc_to_a_closed_port_is_node_unreachable() -> None:
    rpc = JsonRpc(http_chain(f"http://127.0.0.1:{free_port()}", timeout=1).w3)
    with pytest.raises(NodeUnreachable):
        rpc.request("eth_blockNumber", [])


def test_json_rpc_answered_with_an_http_error_is_node_http_error() -> None:
    class Failing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"busy")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        rpc = JsonRpc(http_chain(f"http://127.0.0.1:{server.server_address[1]}", timeout=2).w3)
        with pytest.raises(NodeHttpError) as failed:
            rpc.request("eth_blockNumber", [])
        assert failed.value.status == 503
    finally:
        server.shutdown()
