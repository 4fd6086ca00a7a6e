"""Where the indexer reads the chain: logs of block ranges and block headers, as raw JSON-RPC.

Over HTTP (anvil, Besu, GoQuorum) requests go straight to the node (`service.ledger.jsonrpc`, and one
JSON-RPC batch for many headers): web3's result formatters turn every field of every log into
HexBytes and AttributeDicts, which costs more than decoding the events. The in-process eth-tester
provider takes no raw requests, so there the formatted API is used and its results are brought back
to the JSON-RPC shape: logs are dicts of 0x-hex strings, exactly as a node sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from web3 import EthereumTesterProvider, Web3
from web3.exceptions import BlockNotFound, Web3RPCError

from service.ledger.errors import LedgerError, LedgerUnavailable
from service.ledger.jsonrpc import JsonRpc, NodeHttpError

RpcLog = dict[str, Any]
"""One log as eth_getLogs returns it: address, topics, data, blockNumber, blockHash,
transactionHash, logIndex (0x-hex strings), and `removed`."""

HEADER_BATCH = 100
"""Most headers asked for in one JSON-RPC batch request."""


class RpcError(LedgerError):
    """The node answered a request with an error (e.g. a range or result-size limit)."""

    def __init__(self, method: str, code: int | None, message: str) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """What the indexer keeps of a block: enough to detect a reorganisation and date events."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int


class LogSource(Protocol):
    """The chain as the indexer sees it."""

    def block_number(self) -> int:
        """Number of the latest block."""
        ...

    def get_logs(self, address: str, from_block: int, to_block: int) -> list[RpcLog]:
        """Logs of `address` in blocks `from_block..to_block` (inclusive), in chain order."""
        ...

    def get_headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader | None]:
        """Headers of the given blocks; None for a block the chain does not have (yet)."""
        ...


_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, ConnectionError, OSError)


def _header(raw: dict[str, Any] | None) -> BlockHeader | None:
    if raw is None:
        return None
    return BlockHeader(
        number=int(raw["number"], 16),
        hash=str(raw["hash"]).lower(),
        parent_hash=str(raw["parentHash"]).lower(),
        timestamp=int(raw["timestamp"], 16),
    )


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value).lower()


class JsonRpcSource:
    """Raw JSON-RPC over the provider of `w3` (any provider but eth-tester's)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.rpc = JsonRpc(w3)

    def _request(self, method: str, params: list[Any]) -> Any:
        try:
            response = self.rpc.request(method, params)
        except NodeHttpError as exc:
            raise RpcError(method, exc.status, f"HTTP error: {exc}") from exc
        except _NETWORK_ERRORS as exc:
            raise LedgerUnavailable(f"{method}: {exc}") from exc
        error = response.get("error")
        if error is not None:
            if isinstance(error, dict):
                raise RpcError(method, error.get("code"), str(error.get("message")))
            raise RpcError(method, None, str(error))
        return response.get("result")

    def block_number(self) -> int:
        return int(self._request("eth_blockNumber", []), 16)

    def get_logs(self, address: str, from_block: int, to_block: int) -> list[RpcLog]:
        params = [{"address": address, "fromBlock": hex(from_block), "toBlock": hex(to_block)}]
        result = self._request("eth_getLogs", params)
        return list(result or [])

    def get_headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader | None]:
        wanted = sorted(set(numbers))
        headers: dict[int, BlockHeader | None] = {}
        for start in range(0, len(wanted), HEADER_BATCH):
            chunk = wanted[start : start + HEADER_BATCH]
            if len(chunk) == 1:
                raws = [self._request("eth_getBlockByNumber", [hex(chunk[0]), False])]
            else:
                raws = self._batch([("eth_getBlockByNumber", [hex(n), False]) for n in chunk])
            for number, raw in zip(chunk, raws, strict=True):
                headers[number] = _header(raw)
        return headers

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        try:
            responses = self.rpc.batch(calls)
        except NodeHttpError as exc:
            raise RpcError("batch", exc.status, f"HTTP error: {exc}") from exc
        except _NETWORK_ERRORS as exc:
            raise LedgerUnavailable(f"batch of {len(calls)}: {exc}") from exc
        except NotImplementedError:
            return [self._request(m, p) for m, p in calls]
        if not isinstance(responses, list):
            error = responses.get("error") or {}
            message = error.get("message", error) if isinstance(error, dict) else error
            raise RpcError("batch", None, str(message))
        results = []
        for (method, _), response in zip(calls, responses, strict=True):
            error = response.get("error")
            if error is not None:
                raise RpcError(method, error.get("code"), str(error.get("message")))
            results.append(response.get("result"))
        return results


class Web3Source:
    """The formatted web3 API, for providers without raw requests (the in-process chain)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def block_number(self) -> int:
        try:
            return int(self.w3.eth.block_number)
        except _NETWORK_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc

    def get_logs(self, address: str, from_block: int, to_block: int) -> list[RpcLog]:
        try:
            logs = self.w3.eth.get_logs(
                {
                    "address": Web3.to_checksum_address(address),
                    "fromBlock": from_block,
                    "toBlock": to_block,
                }
            )
        except _NETWORK_ERRORS as exc:
            raise LedgerUnavailable(str(exc)) from exc
        except (Web3RPCError, ValueError) as exc:
            raise RpcError("eth_getLogs", None, str(exc)) from exc
        return [
            {
                "address": str(log["address"]).lower(),
                "topics": [_hex(t) for t in log["topics"]],
                "data": _hex(log["data"]),
                "blockNumber": hex(int(log["blockNumber"])),
                "blockHash": _hex(log["blockHash"]),
                "transactionHash": _hex(log["transactionHash"]),
                "logIndex": hex(int(log["logIndex"])),
                "removed": bool(log.get("removed", False)),
            }
            for log in logs
        ]

    def get_headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader | None]:
        headers: dict[int, BlockHeader | None] = {}
        for number in sorted(set(numbers)):
            try:
                block = self.w3.eth.get_block(number)
            except BlockNotFound:
                headers[number] = None
                continue
            except _NETWORK_ERRORS as exc:
                raise LedgerUnavailable(str(exc)) from exc
            headers[number] = BlockHeader(
                number=int(block["number"]),
                hash=_hex(block["hash"]),
                parent_hash=_hex(block["parentHash"]),
                timestamp=int(block["timestamp"]),
            )
        return headers


def source_for(w3: Web3) -> LogSource:
    """The fastest source `w3`'s provider supports."""
    if isinstance(w3.provider, EthereumTesterProvider):
        return Web3Source(w3)
    return JsonRpcSource(w3)
