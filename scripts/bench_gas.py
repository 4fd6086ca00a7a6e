"""Gas benchmark: credchain's CreditNoteLedger against the ERC-3525 reference implementation.

One run, one in-process chain (py-evm via eth-tester). credchain is deployed from the committed
artifact (what the service deploys; a fresh compile of contracts/ checks that it is current). The
reference is `ERC3525Mintable` from the npm package @solvprotocol/erc-3525, compiled from
node_modules at run time with the same solc and optimizer settings (never copied into the repo).

Every measured figure is `gasUsed` from the transaction's receipt (intrinsic 21,000 and calldata
included, refunds deducted). Each measured transaction is a "typical first time" case on both sides:
the contract has already issued/minted before (no contract-wide counter goes from zero), the
recipient has never held anything, and all storage is cold at the start of the transaction.

Exits 1 if split_ratio > 0.50 or transfer_ratio > 0.60 (the project's goals) unless --no-check.
The last line printed is one JSON object with the results.

    .venv/bin/python scripts/bench_gas.py [--no-check] [--json-only]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as `python scripts/bench_gas.py` from the repo root: put the root on sys.path so that the
# `service` and `tests` packages import without installing anything.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from eth_abi.abi import encode as abi_encode  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_account.signers.local import LocalAccount  # noqa: E402
from web3 import Web3  # noqa: E402
from web3.contract import Contract  # noqa: E402

from scripts.bench_machine import machine_info  # noqa: E402
from service.domain import Role  # noqa: E402
from service.ledger.artifacts import load_artifact  # noqa: E402
from service.ledger.chain import Chain, in_process_chain  # noqa: E402
from service.ledger.client import LEDGER_CONTRACT, SplitPart, TxResult  # noqa: E402
from service.ledger.compiler import (  # noqa: E402
    OPTIMIZER_RUNS,
    CompiledContract,
    compile_project,
    compile_sources,
)
from tests.consortium import Consortium, deploy_consortium, new_account  # noqa: E402

SPLIT_RATIO_GOAL = 0.50
TRANSFER_RATIO_GOAL = 0.60
SPLIT_SIZES = (2, 10, 50, 100)

REF_PACKAGE_DIR = "node_modules/@solvprotocol/erc-3525"
REF_CONTRACT = "ERC3525Mintable"
REF_UNIT = f"{REF_PACKAGE_DIR}/{REF_CONTRACT}.sol"
# The package ships its own OpenZeppelin 4 (the repo's top-level @openzeppelin is 5.x).
REF_REMAPPINGS = ("@openzeppelin/=node_modules/@solvprotocol/erc-3525/node_modules/@openzeppelin/",)
MINT = "mint(address,uint256,uint256,uint256)"  # (to, tokenId, slot, value)
TRANSFER_VALUE = "transferFrom(uint256,address,uint256)"  # ERC-3525: (fromTokenId, to, value)
TRANSFER_TOKEN = "transferFrom(address,address,uint256)"  # ERC-721: (from, to, tokenId)
REF_SLOT = 840  # any slot; 840 = ISO 4217 numeric code of USD
REF_TOKEN_ID_BASE = 1_000_000  # explicit ids for mint(); far from the ids transferFrom derives (1, 2, ...)

NOTE_AMOUNT = 1_000_000  # minor units, e.g. 10,000.00 USD
PIECE = 250_000
SPLIT_NOTE_AMOUNT = 10_000_000
SPLIT_PIECE = 10_000


# ---------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class CompilerSettings:
    """What one side of the comparison was compiled with."""

    solc: str
    optimizer_runs: int
    via_ir: bool

    def describe(self) -> str:
        return f"solc {self.solc} (solcjs), optimizer on, runs={self.optimizer_runs}, viaIR={self.via_ir}"

    def to_json(self) -> dict[str, Any]:
        return {"solc": self.solc, "optimizer_runs": self.optimizer_runs, "via_ir": self.via_ir}


def solc_version() -> str:
    package = json.loads((REPO_ROOT / "node_modules" / "solc" / "package.json").read_text())
    return str(package["version"])


def ratio(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 3)


def compile_reference() -> tuple[CompiledContract, CompilerSettings]:
    """Compile ERC3525Mintable from node_modules, via IR like credchain if that works, else legacy."""
    path = REPO_ROOT / REF_UNIT
    errors: list[str] = []
    for via_ir in (True, False):
        try:
            compiled = compile_sources(
                {REF_UNIT: path},
                base_path=REPO_ROOT,
                remappings=REF_REMAPPINGS,
                optimizer_runs=OPTIMIZER_RUNS,
                via_ir=via_ir,
            )
        except Exception as exc:  # solc errors: fall back to the legacy pipeline
            errors.append(f"viaIR={via_ir}: {exc}")
            continue
        return compiled[REF_CONTRACT], CompilerSettings(solc_version(), OPTIMIZER_RUNS, via_ir)
    raise RuntimeError("cannot compile the ERC-3525 reference:\n" + "\n".join(errors))


def artifact_is_current() -> bool:
    """Whether the committed CreditNoteLedger artifact matches a fresh compile of contracts/."""
    fresh = compile_project().get(LEDGER_CONTRACT)
    return fresh is not None and fresh.bytecode == load_artifact(LEDGER_CONTRACT).bytecode


def send(chain: Chain, sender: LocalAccount, to: str | None, data: str) -> dict[str, Any]:
    """Estimate, sign, send and await a transaction; returns the receipt (fails on a revert)."""
    w3 = chain.w3
    call: dict[str, Any] = {"from": sender.address, "data": data}
    if to is not None:
        call["to"] = to
    gas = int(w3.eth.estimate_gas(call))  # type: ignore[arg-type]
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
    tx: dict[str, Any] = {
        "data": data,
        "gas": gas + gas // 5,
        "value": 0,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "chainId": w3.eth.chain_id,
        "maxFeePerGas": 2 * base_fee + 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    if to is not None:
        tx["to"] = to
    signed = sender.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
    if receipt["status"] != 1:
        raise RuntimeError(f"transaction reverted: {receipt['transactionHash'].to_0x_hex()}")
    return dict(receipt)


def calldata(signature: str, *args: Any) -> str:
    """ABI-encode a call by its full signature (the reference overloads transferFrom three times)."""
    types = signature[signature.index("(") + 1 : -1].split(",")
    return "0x" + (Web3.keccak(text=signature)[:4] + abi_encode(types, list(args))).hex()


# ---------------------------------------------------------------------- credchain


@dataclass
class CredchainGas:
    issue: int
    accept: int
    carve: int
    transfer: int
    splits: dict[int, int]
    freeze: int
    unfreeze: int
    set_credit_limit: int
    onboard_member: int


def bench_credchain(chain: Chain) -> CredchainGas:
    """Measure every ledger operation on one deployed consortium."""
    c: Consortium = deploy_consortium(chain, n_suppliers=6)
    ledger = c.ledger
    s = c.suppliers

    # Warm-up: the ledger has issued and an obligor has outstanding notes before anything is measured.
    c.active_note(NOTE_AMOUNT, s[0])

    # Issue a root note to a supplier that has never held one, and its acceptance.
    issued: TxResult = ledger.issue(c.core, s[1].address, NOTE_AMOUNT, "USD", c.maturity(), c.next_document())
    note_id = issued.created_note_ids()[0]
    accepted = ledger.accept(s[1], note_id)

    # Carve a piece off: split into (the holder itself, rest) + (another member, piece).
    carve = ledger.split(
        s[1], note_id, [SplitPart(s[1].address, NOTE_AMOUNT - PIECE), SplitPart(s[2].address, PIECE)]
    )
    piece_id = carve.created_note_ids()[1]

    # Whole transfer of an accepted note to a member that has never held one.
    whole_id = c.active_note(NOTE_AMOUNT, s[3])
    transfer = ledger.transfer(s[3], whole_id, s[4].address)

    # Operator and financier operations.
    freeze = ledger.freeze(c.operator, piece_id, b"case-0001")
    unfreeze = ledger.unfreeze(c.operator, piece_id)
    bank2 = new_account(chain)
    ledger.onboard_member(c.operator, bank2.address, Role.FINANCIER)
    grant = ledger.set_credit_limit(bank2, c.core.address, 10**12)  # this financier's first grant

    # Split-size series: part 0 back to the holder, parts 1..n-1 to distinct members (each a cold read
    # of a different member record), so the 2-part split is the carve above.
    recipients: list[LocalAccount] = [Account.create() for _ in range(max(SPLIT_SIZES) - 1)]
    onboard_gas: list[int] = [
        ledger.onboard_member(c.operator, r.address, Role.SUPPLIER).gas_used for r in recipients
    ]
    holder = s[5]
    splits: dict[int, int] = {}
    for parts in SPLIT_SIZES:
        root = c.active_note(SPLIT_NOTE_AMOUNT, holder)
        plan = [SplitPart(holder.address, SPLIT_NOTE_AMOUNT - (parts - 1) * SPLIT_PIECE)]
        plan += [SplitPart(r.address, SPLIT_PIECE) for r in recipients[: parts - 1]]
        result = ledger.split(holder, root, plan)
        if len(result.created_note_ids()) != parts:
            raise RuntimeError(f"split into {parts} created {len(result.created_note_ids())} notes")
        splits[parts] = result.gas_used

    return CredchainGas(
        issue=issued.gas_used,
        accept=accepted.gas_used,
        carve=carve.gas_used,
        transfer=transfer.gas_used,
        splits=splits,
        freeze=freeze.gas_used,
        unfreeze=unfreeze.gas_used,
        set_credit_limit=grant.gas_used,
        onboard_member=onboard_gas[0],
    )


# ---------------------------------------------------------------------- ERC-3525 reference


@dataclass
class ReferenceGas:
    mint: int
    carve: int
    transfer: int


def bench_reference(chain: Chain, compiled: CompiledContract) -> ReferenceGas:
    """Deploy ERC3525Mintable and measure mint, value transfer to a new owner, and token transfer."""
    w3 = chain.w3
    funder = chain.funder
    if funder is None:
        raise RuntimeError("the chain has no funder account")
    factory = w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
    deploy_data = factory.constructor("Credit Note Reference", "REF", 2).data_in_transaction
    address = Web3.to_checksum_address(send(chain, funder, None, deploy_data)["contractAddress"])
    token: Contract = w3.eth.contract(address=address, abi=compiled.abi)
    next_id = iter(range(REF_TOKEN_ID_BASE, REF_TOKEN_ID_BASE + 1_000))

    def tx(sender: LocalAccount, signature: str, *args: Any) -> int:
        return int(send(chain, sender, address, calldata(signature, *args))["gasUsed"])

    def mint(to: LocalAccount, value: int) -> tuple[int, int]:
        token_id = next(next_id)
        return token_id, tx(funder, MINT, to.address, token_id, REF_SLOT, value)

    # Warm-up: the contract has minted before (its token list is not empty).
    mint(new_account(chain), NOTE_AMOUNT)

    # Mint a token with a value to a holder that has never held one.
    holder = new_account(chain)
    token_id, mint_gas = mint(holder, NOTE_AMOUNT)

    # Carve a piece off: transferFrom(fromTokenId, to, value) to a new owner creates a new token.
    new_owner = Account.create()
    carve_gas = tx(holder, TRANSFER_VALUE, token_id, new_owner.address, PIECE)
    if token.functions.balanceOf(new_owner.address).call() != 1:
        raise RuntimeError("the value transfer did not create a token for the new owner")

    # Whole transfer (ERC-721 transferFrom) of a holder's only token to an address that never held one.
    sender = new_account(chain)
    whole_id, _ = mint(sender, NOTE_AMOUNT)
    receiver = Account.create()
    transfer_gas = tx(sender, TRANSFER_TOKEN, sender.address, receiver.address, whole_id)
    if token.functions.ownerOf(whole_id).call() != receiver.address:
        raise RuntimeError("the token transfer did not change the owner")

    return ReferenceGas(mint=mint_gas, carve=carve_gas, transfer=transfer_gas)


# ---------------------------------------------------------------------- report


def table(rows: Sequence[tuple[str, int | None, int | None]]) -> list[str]:
    lines = [
        "| operation | credchain gas | ERC-3525 gas | ratio credchain/reference |",
        "|---|---:|---:|---:|",
    ]
    for name, ours, ref in rows:
        ours_s = f"{ours:,}" if ours is not None else "-"
        ref_s = f"{ref:,}" if ref is not None else "-"
        ratio_s = f"{ratio(ours, ref):.3f}" if ours is not None and ref is not None else "-"
        lines.append(f"| {name} | {ours_s} | {ref_s} | {ratio_s} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Gas benchmark of credchain against the ERC-3525 reference.")
    parser.add_argument("--no-check", action="store_true", help="report only; do not enforce the gas goals")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON result line")
    args = parser.parse_args(argv)
    started = time.monotonic()

    with ThreadPoolExecutor(max_workers=2) as pool:  # two solcjs processes at once
        reference_job = pool.submit(compile_reference)
        current_job = pool.submit(artifact_is_current)
        reference, ref_settings = reference_job.result()
        current = current_job.result()
    ours_settings = CompilerSettings(solc_version(), OPTIMIZER_RUNS, True)  # compile_project's settings

    chain = in_process_chain()
    ours = bench_credchain(chain)
    ref = bench_reference(chain, reference)
    fork = type(chain.tester.backend.chain.get_vm()).__name__ if chain.tester is not None else "?"
    elapsed = time.monotonic() - started

    per_part_50 = round((ours.splits[50] - ours.splits[2]) / 48, 1)
    per_part_100 = round((ours.splits[100] - ours.splits[2]) / 98, 1)
    split_ratio = ratio(ours.carve, ref.carve)
    transfer_ratio = ratio(ours.transfer, ref.transfer)
    machine = machine_info()
    result: dict[str, Any] = {
        "split_gas": ours.carve,
        "ref_split_gas": ref.carve,
        "split_ratio": split_ratio,
        "transfer_gas": ours.transfer,
        "ref_transfer_gas": ref.transfer,
        "transfer_ratio": transfer_ratio,
        "issue_gas": ours.issue,
        "accept_gas": ours.accept,
        "ref_mint_gas": ref.mint,
        "issue_ratio": ratio(ours.issue, ref.mint),
        "issue_accept_ratio": ratio(ours.issue + ours.accept, ref.mint),
        "split2_gas": ours.splits[2],
        "split10_gas": ours.splits[10],
        "split50_gas": ours.splits[50],
        "split100_gas": ours.splits[100],
        "split_gas_per_extra_part": per_part_50,
        "split_gas_per_extra_part_100": per_part_100,
        "freeze_gas": ours.freeze,
        "unfreeze_gas": ours.unfreeze,
        "set_credit_limit_gas": ours.set_credit_limit,
        "onboard_member_gas": ours.onboard_member,
        "reference_contract": f"{REF_UNIT}:{REF_CONTRACT}",
        "compiler": {"credchain": ours_settings.to_json(), "reference": ref_settings.to_json()},
        "artifact_current": current,
        "evm": fork,
        "machine": machine,
        "elapsed_s": round(elapsed, 1),
    }

    failures: list[str] = []
    if split_ratio > SPLIT_RATIO_GOAL:
        failures.append(f"split_ratio {split_ratio:.3f} > goal {SPLIT_RATIO_GOAL:.2f}")
    if transfer_ratio > TRANSFER_RATIO_GOAL:
        failures.append(f"transfer_ratio {transfer_ratio:.3f} > goal {TRANSFER_RATIO_GOAL:.2f}")

    if not args.json_only:
        rows: list[tuple[str, int | None, int | None]] = [
            ("issue root note / mint", ours.issue, ref.mint),
            ("issue + accept / mint", ours.issue + ours.accept, ref.mint),
            ("accept", ours.accept, None),
            (
                "carve a piece off (split 2: self + other) / transferFrom(id, to, value)",
                ours.carve,
                ref.carve,
            ),
            ("whole transfer / ERC-721 transferFrom(from, to, id)", ours.transfer, ref.transfer),
        ]
        rows += [(f"split into {n} parts", ours.splits[n], None) for n in SPLIT_SIZES]
        rows += [
            ("freeze", ours.freeze, None),
            ("unfreeze", ours.unfreeze, None),
            ("setCreditLimit (a financier's first grant)", ours.set_credit_limit, None),
            ("onboardMember (new account)", ours.onboard_member, None),
        ]
        out = ["# Gas: credchain CreditNoteLedger vs ERC-3525 reference", ""]
        out += table(rows)
        out += [
            "",
            "| split parts | total gas | gas per extra part over 2 parts |",
            "|---:|---:|---:|",
        ]
        for n in SPLIT_SIZES:
            extra = "-" if n == 2 else f"{(ours.splits[n] - ours.splits[2]) / (n - 2):,.1f}"
            out.append(f"| {n} | {ours.splits[n]:,} | {extra} |")
        out += [
            "",
            f"split gas per extra part: {per_part_50:,.1f} ((split50 - split2) / 48), "
            f"{per_part_100:,.1f} ((split100 - split2) / 98)",
            "",
            "Cases: gasUsed from receipts (21,000 intrinsic and calldata included, refunds deducted);",
            "the contract has issued/minted once before; every recipient has never held a note/token;",
            "split parts go to distinct members (part 0 back to the holder); the ERC-3525 whole transfer",
            "moves the sender's only token; ERC-3525 mint and transfers are sent by EOAs to EOAs.",
            "",
            f"reference contract: {REF_CONTRACT} ({REF_UNIT}, @solvprotocol/erc-3525 with its own OZ 4)",
            f"credchain compiler: {ours_settings.describe()} - deployed from the committed artifact, "
            + ("which matches a fresh compile of contracts/" if current else "WARNING: STALE vs contracts/"),
            f"reference compiler: {ref_settings.describe()}",
            f"EVM: py-evm {fork} (eth-tester in-process chain)",
            f"machine: {machine['platform']}, Python {machine['python']}, {machine['cpu']}, "
            f"{machine['cores']} cores",
            f"elapsed: {elapsed:.1f} s",
        ]
        if failures:
            out.append("GOALS NOT MET: " + "; ".join(failures) + (" (--no-check)" if args.no_check else ""))
        else:
            goals = f"split_ratio <= {SPLIT_RATIO_GOAL:.2f}, transfer_ratio <= {TRANSFER_RATIO_GOAL:.2f}"
            out.append(f"goals met: {goals}")
        print("\n".join(out))
    elif failures and not args.no_check:
        print("GOALS NOT MET: " + "; ".join(failures), file=sys.stderr)
    print(json.dumps(result, sort_keys=True))
    return 1 if failures and not args.no_check else 0


if __name__ == "__main__":
    sys.exit(main())
