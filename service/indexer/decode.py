"""Decoding raw logs into events, fast.

Every credchain event has only static parameters (uintN, address, bytesN, bool), so each one is a
fixed sequence of 32-byte words: the indexed ones in topics 1..3, the others in `data`. Slicing the
hex strings a node sends and calling `int(word, 16)` is several times faster than `eth_abi.decode`
(itself ~30x faster than web3's `process_log`). Events with dynamic parameters, if an ABI ever has
them, fall back to `EventDecoder`.

Each event comes out twice: `values` for the indexer's state machine (ints, EIP-55 addresses,
0x-hex bytes) and `args`, the JSON stored in `events.args`: the same, except integers wider than 53
bits (uint256 ids, amounts, limits) become decimal strings, since JSON numbers are doubles.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from service.domain import root_of
from service.indexer.source import RpcLog
from service.ledger.abi_codec import EventDecoder, EventSpec

JSON_SAFE_BITS = 53
"""Integers of at most this many bits are JSON numbers in `args`; wider ones are strings."""

_CHECKSUM_CACHE_LIMIT = 100_000


@dataclass(slots=True)
class DecodedLog:
    """One contract event, where it happened and what it says."""

    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    name: str
    values: dict[str, Any]
    args_json: str
    note_id: int | None
    root_id: int | None

    @property
    def args(self) -> dict[str, Any]:
        """The arguments as stored in `events.args`."""
        loaded: dict[str, Any] = json.loads(self.args_json)
        return loaded


class _Checksums:
    """EIP-55 checksumming costs a keccak; members are few, so remember them."""

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}

    def __call__(self, lower_hex: str) -> str:
        cached = self._cache.get(lower_hex)
        if cached is None:
            if len(self._cache) >= _CHECKSUM_CACHE_LIMIT:
                self._cache.clear()
            cached = self._cache[lower_hex] = to_checksum_address(lower_hex)
        return cached


FastDecode = Callable[[list[str], str], tuple[dict[str, Any], str]]


def _static_expression(kind: str, source: str, in_topic: bool) -> tuple[str, str] | None:
    """(Python expression decoding one 32-byte word, JSON rendering of the value in `v`) for a static
    ABI type, where `source` is the word as hex (a topic keeps its 0x prefix); None if not static."""
    if kind == "address":
        return f"cs('0x' + {source}[-40:].lower())", "string"
    if kind == "bool":
        return f"int({source}, 16) != 0", "bool"
    if kind.startswith("uint") and (kind[4:] or "256").isdigit():
        bits = int(kind[4:] or 256)
        return f"int({source}, 16)", ("wide" if bits > JSON_SAFE_BITS else "number")
    if kind.startswith("int") and (kind[3:] or "256").isdigit():
        bits = int(kind[3:] or 256)
        return f"signed(int({source}, 16))", ("wide" if bits > JSON_SAFE_BITS else "number")
    if kind.startswith("bytes") and kind[5:].isdigit():
        offset = 2 if in_topic else 0
        return f"'0x' + {source}[{offset}:{offset + 2 * int(kind[5:])}].lower()", "string"
    return None


def _signed(value: int) -> int:
    return value - (1 << 256) if value >> 255 else value


def _compile(spec: EventSpec, checksum: _Checksums) -> FastDecode | None:
    """A decoder of one event written out as straight-line Python: for each parameter one slice
    and one `int(..., 16)` (or checksum lookup), and the JSON of the arguments built by one
    f-string (names are ABI identifiers, values are digits or hex: nothing to escape). None if
    the event has a dynamic parameter."""
    lines = ["def decode(topics, data):"]
    names: list[str] = []
    json_parts: list[str] = []
    params = [(name, kind, f"topics[{i}]", True) for i, (name, kind) in enumerate(spec.indexed, start=1)]
    params += [
        (name, kind, f"data[{2 + 64 * i}:{66 + 64 * i}]", False) for i, (name, kind) in enumerate(spec.data)
    ]
    for index, (name, kind, source, in_topic) in enumerate(params):
        compiled = _static_expression(kind, source, in_topic)
        if compiled is None or not name.isidentifier():
            return None
        expression, rendering = compiled
        var = f"v{index}"
        lines.append(f"    {var} = {expression}")
        names.append(name)
        key = json.dumps(name)
        if rendering in ("string", "wide"):
            json_parts.append(f'{key}:"{{{var}}}"')
        elif rendering == "bool":
            lines.append(f"    j{index} = 'true' if {var} else 'false'")
            json_parts.append(f"{key}:{{j{index}}}")
        else:
            json_parts.append(f"{key}:{{{var}}}")
    values = ", ".join(f"{json.dumps(name)}: v{i}" for i, name in enumerate(names))
    rendered = "{{" + ",".join(json_parts) + "}}"
    lines.append(f"    return {{{values}}}, f{rendered!r}")
    namespace: dict[str, Any] = {"cs": checksum, "signed": _signed}
    exec("\n".join(lines), namespace)  # the source above is built from the ABI types only
    decode: FastDecode = namespace["decode"]
    return decode


@dataclass(frozen=True)
class _Layout:
    name: str
    topic_count: int
    data_chars: int
    decode: FastDecode


def _layout(spec: EventSpec, checksum: _Checksums) -> _Layout | None:
    decode = _compile(spec, checksum)
    if decode is None:
        return None
    return _Layout(spec.name, 1 + len(spec.indexed), 2 + 64 * len(spec.data), decode)


def _plain_value(value: Any) -> Any:
    """A decoded value as `DecodedLog.values` holds it: bytes as 0x-hex, arrays as lists."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_plain_value(v) for v in value]
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(1 << JSON_SAFE_BITS) <= value <= (1 << JSON_SAFE_BITS) else str(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


class LogDecoder:
    """Decodes the raw logs of one contract (and of companion contracts added with `add_contract`,
    such as the ledger's evidence registry); logs of other contracts or unknown events are skipped."""

    def __init__(self, abi: list[dict[str, Any]], contract: str) -> None:
        self.contract = to_checksum_address(contract)
        self._contract_lower = self.contract.lower()
        self._checksum = _Checksums()
        self._slow: dict[str, EventDecoder] = {}
        self._by_contract: dict[str, dict[str, _Layout | None]] = {}
        self._layouts = self._add(self._contract_lower, abi)
        self.skipped = 0

    def _add(self, contract_lower: str, abi: list[dict[str, Any]]) -> dict[str, _Layout | None]:
        slow = EventDecoder(abi)
        layouts: dict[str, _Layout | None] = {}
        for topic0 in slow.topics:
            spec = slow.spec(topic0)
            assert spec is not None
            layouts["0x" + topic0.hex()] = _layout(spec, self._checksum)
        self._slow[contract_lower] = slow
        self._by_contract[contract_lower] = layouts
        return layouts

    def add_contract(self, abi: list[dict[str, Any]], contract: str) -> None:
        """Decode the logs of `contract` too, with its own `abi`."""
        self._add(contract.lower(), abi)

    @property
    def contracts(self) -> list[str]:
        """Every contract decoded (the main one first), EIP-55 checksummed."""
        return [self._checksum(c) for c in self._by_contract]

    def knows(self, topic0: str) -> bool:
        return topic0.lower() in self._layouts

    def decode(self, log: RpcLog) -> DecodedLog | None:
        """The event in `log`, or None if it is not one of the known events of its contract."""
        topics: list[str] = log["topics"]
        address = str(log["address"]).lower()
        layouts = self._layouts if address == self._contract_lower else self._by_contract.get(address)
        if not topics or layouts is None or log.get("removed"):
            self.skipped += 1
            return None
        topic0 = topics[0].lower()
        if topic0 not in layouts:
            self.skipped += 1
            return None
        layout = layouts[topic0]
        if layout is None:
            return self._decode_slow(log, self._slow[address])
        data: str = log["data"]
        if len(topics) != layout.topic_count or len(data) < layout.data_chars:
            self.skipped += 1
            return None
        try:
            values, args_json = layout.decode(topics, data)
        except ValueError:  # not hex: not a log this contract wrote
            self.skipped += 1
            return None
        return self._event(log, layout.name, values, args_json)

    def _decode_slow(self, log: RpcLog, slow: EventDecoder) -> DecodedLog | None:
        topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
        try:
            decoded = slow.decode(topics, bytes.fromhex(str(log["data"])[2:]))
        except Exception:  # malformed data of a known topic: not ours to store
            decoded = None
        if decoded is None:
            self.skipped += 1
            return None
        values = {k: _plain_value(v) for k, v in decoded.args.items()}
        args = {k: _json_value(v) for k, v in decoded.args.items()}
        return self._event(log, decoded.name, values, json.dumps(args, separators=(",", ":")))

    def _event(self, log: RpcLog, name: str, values: dict[str, Any], args_json: str) -> DecodedLog:
        note_id = values.get("noteId", values.get("rootId"))  # ReceivableConverted names its root
        if not isinstance(note_id, int) or isinstance(note_id, bool):
            note_id = None
        return DecodedLog(
            block_number=int(log["blockNumber"], 16),
            block_hash=str(log["blockHash"]).lower(),
            tx_hash=str(log["transactionHash"]).lower(),
            log_index=int(log["logIndex"], 16),
            name=name,
            values=values,
            args_json=args_json,
            note_id=note_id,
            root_id=None if note_id is None else root_of(note_id),
        )

    def decode_all(self, logs: Iterable[RpcLog]) -> list[DecodedLog]:
        """Decode `logs`, dropping foreign and unknown ones and repeated (tx, log index) pairs."""
        seen: set[tuple[str, int]] = set()
        events: list[DecodedLog] = []
        for log in logs:
            event = self.decode(log)
            if event is None:
                continue
            key = (event.tx_hash, event.log_index)
            if key in seen:
                continue
            seen.add(key)
            events.append(event)
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events
