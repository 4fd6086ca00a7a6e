"""The indexer's fast log decoder agrees with the eth_abi-based EventDecoder on every event of the
ledger's ABI, for any argument values, and renders `events.args` JSON with big integers as strings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from service.indexer.decode import JSON_SAFE_BITS, LogDecoder
from service.ledger.abi_codec import EventDecoder, EventSpec
from service.ledger.artifacts import load_artifact
from service.ledger.types import LEDGER_CONTRACT

ABI = load_artifact(LEDGER_CONTRACT).abi
SLOW = EventDecoder(ABI)
SPECS = [spec for spec in (SLOW.spec(topic) for topic in SLOW.topics) if spec is not None]
CONTRACT = "0x" + "42" * 20


def _value(kind: str) -> st.SearchStrategy[Any]:
    if kind == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))
    if kind == "bool":
        return st.booleans()
    if kind.startswith("uint"):
        return st.integers(0, 2 ** int(kind[4:] or 256) - 1)
    if kind.startswith("bytes"):
        size = int(kind[5:])
        return st.binary(min_size=size, max_size=size)
    raise AssertionError(f"no strategy for {kind}")


def _log(spec: EventSpec, indexed: list[Any], data: list[Any]) -> dict[str, Any]:
    topics = ["0x" + spec.topic0.hex()]
    topics += [
        "0x" + abi_encode([kind], [v]).hex() for (_, kind), v in zip(spec.indexed, indexed, strict=True)
    ]
    return {
        "address": CONTRACT,
        "topics": topics,
        "data": "0x" + abi_encode(spec.data_types, data).hex(),
        "blockNumber": "0x10",
        "blockHash": "0x" + "ab" * 32,
        "transactionHash": "0x" + "cd" * 32,
        "logIndex": "0x3",
        "removed": False,
    }


NAMES = sorted(spec.name for spec in SPECS)
FINANCING_EVENTS = {
    "GracePeriodChanged",
    "SettlementTokenRegistered",
    "DiscountOffered",
    "DiscountOfferCancelled",
    "DiscountPaymentRecorded",
    "NoteDiscounted",
    "NotePaid",
    "PaymentClaimed",
    "NoteOverdue",
    "NoteWrittenOff",
}


def test_every_event_has_a_fast_path() -> None:
    decoder = LogDecoder(ABI, CONTRACT)
    assert len(SPECS) == 32 and set(NAMES) >= FINANCING_EVENTS | {
        "FinancierApproved",
        "FinancierWithdrawn",
        "MinPartAmountSet",
        "PaymentClaimWithdrawn",
    }
    assert all(decoder._layouts["0x" + spec.topic0.hex()] is not None for spec in SPECS)


def _check(spec: EventSpec, log: dict[str, Any]) -> None:
    decoder = LogDecoder(ABI, CONTRACT)
    event = decoder.decode(log)
    slow = SLOW.decode([bytes.fromhex(t[2:]) for t in log["topics"]], bytes.fromhex(log["data"][2:]))
    assert event is not None and slow is not None
    assert event.name == slow.name == spec.name
    expected = {k: "0x" + v.hex() if isinstance(v, bytes) else v for k, v in slow.args.items()}
    assert event.values == expected
    kinds = dict(spec.indexed + spec.data)
    for name, value in json.loads(event.args_json).items():
        kind = kinds[name]
        wide = kind.startswith("uint") and int(kind[4:] or 256) > JSON_SAFE_BITS
        assert value == (str(expected[name]) if wide else expected[name])
    assert (event.block_number, event.log_index) == (16, 3)
    assert event.note_id == expected.get("noteId", expected.get("rootId"))  # ReceivableConverted: its root


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_fast_decoding_matches_eth_abi(name: str, data: st.DataObject) -> None:
    spec = next(s for s in SPECS if s.name == name)
    indexed = [data.draw(_value(kind), label=arg) for arg, kind in spec.indexed]
    values = [data.draw(_value(kind), label=arg) for arg, kind in spec.data]
    _check(spec, _log(spec, indexed, values))


def test_foreign_unknown_and_malformed_logs_are_skipped() -> None:
    decoder = LogDecoder(ABI, CONTRACT)
    spec = next(s for s in SPECS if s.name == "NoteTransferred")
    good = _log(spec, [1 << 32, "0x" + "01" * 20, "0x" + "02" * 20], [])
    assert decoder.decode(good) is not None
    assert decoder.decode(dict(good, address="0x" + "11" * 20)) is None
    assert decoder.decode(dict(good, topics=["0x" + "ee" * 32, *good["topics"][1:]])) is None
    assert decoder.decode(dict(good, topics=good["topics"][:2])) is None
    assert decoder.decode(dict(good, topics=[])) is None
    assert decoder.decode(dict(good, removed=True)) is None
    assert (
        decoder.decode(dict(good, topics=[good["topics"][0], "0xzz" + "0" * 62, *good["topics"][2:]])) is None
    )
    assert decoder.skipped == 6
    assert len(decoder.decode_all([good, good, dict(good, logIndex="0x4")])) == 2
