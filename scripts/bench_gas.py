"""Gas benchmark: credchain's CreditNoteLedger against the ERC-3525 reference implementation.

One run, one in-process chain (py-evm via eth-tester). credchain is deployed from the committed
artifact (what the service deploys; a fresh compile of contracts/ checks that it is current). The
reference is `ERC3525Mintable` from the npm package @solvprotocol/erc-3525, compiled from
node_modules at run time with the same solc and optimizer settings (never copied into the repo).

Every measured figure is `gasUsed` from the transaction's receipt (intrinsic 21,000 and calldata
included, refunds deducted); all storage is cold at the start of each transaction. Each transaction
of the issue/split/transfer comparison is a "typical first time" case on both sides: the contract
has already issued/minted before (no contract-wide counter goes from zero) and the recipient has
never held anything.

Delivery versus payment: the atomic discount (`acceptDiscountOffer`: the note goes to the financier
and the price in settlement tokens to the holder, one transaction) is compared with doing the same
with two transactions in the same run: a plain OpenZeppelin 5 ERC-20 `transfer` of the price (a
minimal `ERC20` subclass compiled here from node_modules with credchain's compiler settings; not
our SettlementToken, whose two member checks would make the two-transaction side dearer) plus the
ERC-3525 reference's ERC-721 `transferFrom(from, to, tokenId)`. Two cases, the same on both sides:
- steady state: every balance involved is non-zero before and after (the payer keeps tokens, the
  payee already holds some; the ERC-3525 sender keeps another token and the receiver already holds
  one); the DvP spends a finite allowance that stays non-zero (an extra slot write on our side only);
- fresh recipients: the payee (DvP holder / ERC-20 recipient) has never held tokens and the ERC-3525
  receiver has never held a token (the sender still keeps another one).
Also measured: accept, carve and whole transfer signed by a member holding its own key and relayed
through the ledger's ERC-2771 forwarder (the relayer pays; the member's first relayed request also
sets its forwarder nonce from zero); offerDiscount (the quote), pay (full and partial), settleRoot
over trees of 10 and 50 leaves (one call each; every payee a distinct member paid for the first
time), markOverdue and writeOff.

Exits 1 if split_ratio > 0.50, transfer_ratio > 0.60 or dvp_ratio >= 1 (steady state; the
project's goals) unless --no-check. The last line printed is one JSON object with the results.

    .venv/bin/python scripts/bench_gas.py [--no-check] [--json-only] [--split-sizes 2,10,50,100]
        [--settle-sizes 10,50] [--no-artifact-check]

The split and settlement series are what the run spends most of its chain time on; the test suite's
smoke run (tests/test_benchmarks.py) measures them at a few parts and leaves and skips the fresh
compile of contracts/ (`make test` checks the artifacts on its own).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
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
from service.domain import MAX_SPLIT_PARTS, Role  # noqa: E402
from service.ledger.artifacts import load_artifact  # noqa: E402
from service.ledger.chain import Chain, in_process_chain  # noqa: E402
from service.ledger.compiler import (  # noqa: E402
    OPTIMIZER_RUNS,
    CompiledContract,
    compile_project,
    compile_sources,
)
from service.ledger.relay import ForwardRequest, sign_request  # noqa: E402
from service.ledger.types import LEDGER_CONTRACT, EvidenceKind, SplitPart, TxResult  # noqa: E402
from tests.consortium import Consortium, deploy_consortium, new_account  # noqa: E402

SPLIT_RATIO_GOAL = 0.50
TRANSFER_RATIO_GOAL = 0.60
DVP_RATIO_GOAL = 1.0  # the one-transaction DvP must cost less than the two transactions
SPLIT_SIZES = (2, 10, 50, 100)
"""Parts of the split series (default); 2 is the carve, the base of the per-part figures."""
SETTLE_SIZES = (10, 50)
"""Leaves of the trees settled by one settleRoot call each (default)."""
PER_PART_SIZE = 50
"""The split size `split_gas_per_extra_part` is measured at when the series has it."""

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
PRICE = 980_000  # the discounted price of a NOTE_AMOUNT note
DAY = 86_400

ERC20_CONTRACT = "PlainERC20"
ERC20_UNIT = "bench/PlainERC20.sol"
ERC20_SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice OpenZeppelin 5's ERC20 as is, plus an open mint for the benchmark.
contract PlainERC20 is ERC20 {
    constructor() ERC20("Plain", "PLAIN") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
"""


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


def openzeppelin_version() -> str:
    package = json.loads(
        (REPO_ROOT / "node_modules" / "@openzeppelin" / "contracts" / "package.json").read_text()
    )
    return str(package["version"])


def compile_erc20() -> CompiledContract:
    """Compile PlainERC20 (OpenZeppelin 5's ERC20 from node_modules) with credchain's settings."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "PlainERC20.sol"
        path.write_text(ERC20_SOURCE)
        return compile_sources({ERC20_UNIT: path}, base_path=REPO_ROOT)[ERC20_CONTRACT]


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
    approve_financier: int
    withdraw_financier: int
    onboard_member: int


def bench_credchain(chain: Chain, split_sizes: Sequence[int] = SPLIT_SIZES) -> CredchainGas:
    """Measure every ledger operation on one deployed consortium (a split into each of
    `split_sizes` parts)."""
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
    approval = ledger.approve_financier(c.core, bank2.address)
    grant = ledger.set_credit_limit(bank2, c.core.address, 10**12)  # this financier's first grant
    bank3 = new_account(chain)
    ledger.onboard_member(c.operator, bank3.address, Role.FINANCIER)
    ledger.approve_financier(c.core, bank3.address)
    ledger.set_credit_limit(bank3, c.core.address, 10**12)
    withdrawal = ledger.withdraw_financier(c.core, bank3.address)  # removes a grant from the limit

    # Split-size series: part 0 back to the holder, parts 1..n-1 to distinct members (each a cold read
    # of a different member record), so the 2-part split is the carve above.
    recipients: list[LocalAccount] = [Account.create() for _ in range(max(split_sizes) - 1)]
    onboard_gas: list[int] = [
        ledger.onboard_member(c.operator, r.address, Role.SUPPLIER).gas_used for r in recipients
    ]
    holder = s[5]
    splits: dict[int, int] = {}
    for parts in split_sizes:
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
        approve_financier=approval.gas_used,
        withdraw_financier=withdrawal.gas_used,
        onboard_member=onboard_gas[0],
    )


# ---------------------------------------------------------------------- credchain: relayed


@dataclass
class RelayGas:
    accept: int  # the member's first relayed request (its forwarder nonce goes from zero)
    carve: int
    transfer: int


def _relayed(c: Consortium, signer: LocalAccount, fn_name: str, *args: Any) -> TxResult:
    """`fn_name(*args)` signed by `signer` (EIP-712) and relayed through the forwarder by the operator."""
    data = bytes.fromhex(c.ledger.contract.encode_abi(fn_name, args=list(args))[2:])
    request = ForwardRequest(
        sender=signer.address,
        to=c.ledger.address,
        value=0,
        gas=500_000,
        nonce=c.forwarder.nonce_of(signer.address),
        deadline=c.chain.now() + 600,
        data=data,
    )
    signature = sign_request(signer, request, c.chain.w3.eth.chain_id, c.forwarder.address)
    return c.forwarder.execute(c.operator, request, signature)


def bench_relay(chain: Chain) -> RelayGas:
    """The same accept, carve and whole transfer as `bench_credchain`, signed by a member holding its
    own key (no ether) and relayed through the ledger's ERC-2771 forwarder, the operator paying."""
    c: Consortium = deploy_consortium(chain, n_suppliers=1)
    c.active_note(NOTE_AMOUNT, c.suppliers[0])  # warm-up, as in bench_credchain
    signer: LocalAccount = Account.create()
    fresh: list[LocalAccount] = [Account.create() for _ in range(2)]
    for account in (signer, *fresh):
        c.ledger.onboard_member(c.operator, account.address, Role.SUPPLIER)
    note_id = c.issue(NOTE_AMOUNT, signer)
    accepted = _relayed(c, signer, "accept", note_id)
    carve = _relayed(
        c, signer, "split", note_id, [(signer.address, NOTE_AMOUNT - PIECE), (fresh[0].address, PIECE)]
    )
    kept = carve.created_note_ids()[0]
    transfer = _relayed(c, signer, "transfer", kept, fresh[1].address)
    if c.ledger.get_note(kept).holder != fresh[1].address:
        raise RuntimeError("the relayed transfer did not move the note")
    return RelayGas(accept=accepted.gas_used, carve=carve.gas_used, transfer=transfer.gas_used)


# ---------------------------------------------------------------------- credchain: evidence


@dataclass
class EvidenceGas:
    register_invoice: int  # an invoice with amount and currency
    register_record: int  # a delivery record without amount
    attest_first: int  # the record's first attestation
    attest_second: int
    relayed_attest: int  # signed by the data provider (EIP-712), relayed by the operator
    revoke: int
    originate: int  # no supporting record
    originate_supporting: int  # with 3 supporting records
    convert: int
    ledger_runtime_bytes: int
    registry_runtime_bytes: int


def bench_evidence(chain: Chain) -> EvidenceGas:
    """Trade evidence and evidence-backed receivables on one consortium: a supplier with its own
    limit, two data providers (one holding its own key, relayed)."""
    c: Consortium = deploy_consortium(chain, n_suppliers=1)
    ledger, supplier, core = c.ledger, c.suppliers[0], c.core
    c.active_note(NOTE_AMOUNT, supplier)  # warm-up, as in bench_credchain
    providers = [new_account(chain) for _ in range(2)]
    signer: LocalAccount = Account.create()
    for account in (*providers, signer):
        ledger.onboard_member(c.operator, account.address, Role.DATA_PROVIDER)
    ledger.approve_financier(supplier, c.bank.address)
    ledger.set_credit_limit(c.bank, supplier.address, 10 * NOTE_AMOUNT)

    def record(kind: EvidenceKind, amount: int) -> tuple[bytes, int]:
        doc = c.next_document()
        result = ledger.register_evidence(supplier, doc, kind, core.address, "USD", amount)
        return doc, result.gas_used

    supporting = [record(kind, 0)[0] for kind in (EvidenceKind.PURCHASE_ORDER, EvidenceKind.ACCEPTANCE)]
    delivery, register_record = record(EvidenceKind.DELIVERY, 0)
    supporting.append(delivery)
    invoice, register_invoice = record(EvidenceKind.INVOICE, NOTE_AMOUNT)
    attest_first = ledger.attest_evidence(providers[0], invoice).gas_used
    attest_second = ledger.attest_evidence(providers[1], invoice).gas_used
    registry = ledger.evidence
    data = bytes.fromhex(registry.contract.encode_abi("attestEvidence", args=[delivery])[2:])
    request = ForwardRequest(
        sender=signer.address,
        to=registry.address,
        value=0,
        gas=200_000,
        nonce=c.forwarder.nonce_of(signer.address),
        deadline=c.chain.now() + 600,
        data=data,
    )
    signature = sign_request(signer, request, c.chain.w3.eth.chain_id, c.forwarder.address)
    relayed_attest = c.forwarder.execute(c.operator, request, signature).gas_used
    revoke = ledger.revoke_attestation(providers[1], invoice).gas_used
    with_supporting = ledger.originate_receivable(supplier, invoice, supporting, NOTE_AMOUNT, c.maturity())
    bare_invoice, _ = record(EvidenceKind.INVOICE, NOTE_AMOUNT)
    ledger.attest_evidence(providers[0], bare_invoice)
    bare = ledger.originate_receivable(supplier, bare_invoice, [], NOTE_AMOUNT, c.maturity())
    convert = ledger.convert_receivable(core, bare.created_note_ids()[0])
    return EvidenceGas(
        register_invoice=register_invoice,
        register_record=register_record,
        attest_first=attest_first,
        attest_second=attest_second,
        relayed_attest=relayed_attest,
        revoke=revoke,
        originate=bare.gas_used,
        originate_supporting=with_supporting.gas_used,
        convert=convert.gas_used,
        ledger_runtime_bytes=len(chain.w3.eth.get_code(ledger.address)),
        registry_runtime_bytes=len(chain.w3.eth.get_code(registry.address)),
    )


# ---------------------------------------------------------------------- credchain: financing


@dataclass
class FinancingGas:
    offer: int
    dvp: int  # steady state
    dvp_fresh: int  # the holder never held settlement tokens before
    token_transfer: int  # SettlementToken.transfer, steady state (for information)
    pay_full: int
    pay_partial: int
    settle: dict[int, int]  # leaves -> gas of the one settleRoot call paying them
    mark_overdue: int
    write_off: int


def _dvp(c: Consortium, holder: LocalAccount) -> tuple[int, int]:
    """Offer PRICE for a fresh active note of `holder` and accept it: (offer gas, accept gas)."""
    note = c.active_note(NOTE_AMOUNT, holder)
    deadline = c.chain.now() + 30 * DAY
    offered = c.ledger.offer_discount(c.bank, note, PRICE, deadline)
    accepted = c.ledger.accept_discount_offer(holder, offered.offer_id())
    if c.ledger.get_note(note).holder != c.bank.address:
        raise RuntimeError("the discount did not deliver the note")
    return offered.gas_used, accepted.gas_used


def bench_financing(chain: Chain, settle_sizes: Sequence[int] = SETTLE_SIZES) -> FinancingGas:
    """Discount, payment, settlement (one tree of each of `settle_sizes` leaves), overdue and
    write-off on one deployed consortium."""
    c: Consortium = deploy_consortium(chain, n_suppliers=4)
    ledger, token = c.ledger, c.token
    s = c.suppliers
    payees: list[LocalAccount] = [Account.create() for _ in range(max(settle_sizes))]
    for payee in payees:
        ledger.onboard_member(c.operator, payee.address, Role.SUPPLIER)

    # The financier holds tokens and a finite allowance that both stay non-zero; one discount has
    # been made before (no contract-wide counter goes from zero).
    c.fund_tokens(c.bank, 100 * NOTE_AMOUNT, approve=50 * NOTE_AMOUNT)
    _dvp(c, s[0])

    # Steady state: the holder already holds settlement tokens.
    token.mint(c.operator, s[1].address, 1_000, b"holder deposit")
    offer_gas, dvp_gas = _dvp(c, s[1])
    # Fresh: the holder has never held settlement tokens.
    if token.balance_of(s[2].address) != 0:
        raise RuntimeError("the fresh holder already holds tokens")
    _, dvp_fresh_gas = _dvp(c, s[2])
    token_transfer_gas = token.transfer(s[1], s[0].address, 1_000).gas_used

    # Notes that will be paid: trees split to distinct payees (never paid before), and single notes
    # of s[0] (who holds tokens) to pay in full, in part, mark overdue and write off.
    roots: dict[int, int] = {}
    for leaves in settle_sizes:
        root = c.active_note(leaves * SPLIT_PIECE, s[3])
        ledger.split(s[3], root, [SplitPart(p.address, SPLIT_PIECE) for p in payees[:leaves]])
        roots[leaves] = root
    full, partial, overdue = (c.active_note(NOTE_AMOUNT, s[0]) for _ in range(3))
    total = sum(settle_sizes) * SPLIT_PIECE + 2 * NOTE_AMOUNT
    c.fund_tokens(c.core, 2 * total, approve=total + 1)  # finite allowance, non-zero at the end

    # Past maturity plus the grace period: every note is payable and may be marked overdue.
    chain.advance_time(90 * DAY + ledger.grace_period() + DAY)
    pay_full = ledger.pay(c.core, full, NOTE_AMOUNT).gas_used
    pay_partial = ledger.pay(c.core, partial, NOTE_AMOUNT // 2).gas_used
    settle: dict[int, int] = {}
    for leaves, root in roots.items():
        result = ledger.settle_root(c.core, root, 0, leaves + 1)
        if len(result.events) != leaves:
            raise RuntimeError(f"settleRoot paid {len(result.events)} notes of {leaves}")
        settle[leaves] = result.gas_used
    mark_overdue = ledger.mark_overdue(c.outsider, overdue).gas_used
    write_off = ledger.write_off(c.operator, overdue, b"default-0001").gas_used

    return FinancingGas(
        offer=offer_gas,
        dvp=dvp_gas,
        dvp_fresh=dvp_fresh_gas,
        token_transfer=token_transfer_gas,
        pay_full=pay_full,
        pay_partial=pay_partial,
        settle=settle,
        mark_overdue=mark_overdue,
        write_off=write_off,
    )


# ---------------------------------------------------------------------- OpenZeppelin 5 ERC-20


@dataclass
class Erc20Gas:
    transfer: int  # steady state: both balances non-zero before and after
    transfer_fresh: int  # to an address that never held any


def bench_erc20(chain: Chain, compiled: CompiledContract) -> Erc20Gas:
    """Deploy PlainERC20 and measure transfer(to, PRICE) sent by an EOA holding tokens."""
    w3 = chain.w3
    funder = chain.funder
    if funder is None:
        raise RuntimeError("the chain has no funder account")
    factory = w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
    deploy_data = factory.constructor().data_in_transaction
    address = Web3.to_checksum_address(send(chain, funder, None, deploy_data)["contractAddress"])
    token: Contract = w3.eth.contract(address=address, abi=compiled.abi)
    mint = "mint(address,uint256)"
    transfer = "transfer(address,uint256)"

    payer = new_account(chain)
    payee = new_account(chain)
    send(chain, funder, address, calldata(mint, payer.address, 100 * NOTE_AMOUNT))
    send(chain, funder, address, calldata(mint, payee.address, 1_000))
    steady = int(send(chain, payer, address, calldata(transfer, payee.address, PRICE))["gasUsed"])
    fresh_payee = Account.create()
    fresh = int(send(chain, payer, address, calldata(transfer, fresh_payee.address, PRICE))["gasUsed"])
    if token.functions.balanceOf(fresh_payee.address).call() != PRICE:
        raise RuntimeError("the ERC-20 transfer did not arrive")
    return Erc20Gas(transfer=steady, transfer_fresh=fresh)


# ---------------------------------------------------------------------- ERC-3525 reference


@dataclass
class ReferenceGas:
    mint: int
    carve: int
    transfer: int  # the sender's only token, to an address that never held one
    transfer_held: int  # steady state: the sender keeps a token, the receiver already holds one
    transfer_fresh_receiver: int  # the sender keeps a token, the receiver never held one


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

    # DvP comparison, steady state: the sender keeps another token, the receiver already holds one.
    # The token sent is the sender's last one minted: the reference's owner enumeration then pops
    # it without moving another token (its cheaper case).
    seller = new_account(chain)
    mint(seller, NOTE_AMOUNT)
    sold_id, _ = mint(seller, NOTE_AMOUNT)
    buyer = new_account(chain)
    mint(buyer, NOTE_AMOUNT)
    held_gas = tx(seller, TRANSFER_TOKEN, seller.address, buyer.address, sold_id)
    # Fresh receiver: the sender keeps another token, the receiver never held one.
    fresh_id, _ = mint(seller, NOTE_AMOUNT)
    fresh_buyer = Account.create()
    fresh_gas = tx(seller, TRANSFER_TOKEN, seller.address, fresh_buyer.address, fresh_id)
    for token_id, owner in ((sold_id, buyer.address), (fresh_id, fresh_buyer.address)):
        if token.functions.ownerOf(token_id).call() != owner:
            raise RuntimeError("the token transfer did not change the owner")

    return ReferenceGas(
        mint=mint_gas,
        carve=carve_gas,
        transfer=transfer_gas,
        transfer_held=held_gas,
        transfer_fresh_receiver=fresh_gas,
    )


# ---------------------------------------------------------------------- report


def sizes_argument(low: int, high: int, must_have: int | None = None, count: int = 1) -> Any:
    """An argparse `type`: comma-separated sizes in [low, high], sorted and without repeats; at least
    `count` of them, `must_have` among them."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            sizes = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from exc
        if len(sizes) < count or any(not low <= n <= high for n in sizes):
            raise argparse.ArgumentTypeError(f"need at least {count} distinct sizes in {low}..{high}")
        if must_have is not None and must_have not in sizes:
            raise argparse.ArgumentTypeError(f"the sizes must include {must_have}")
        return sizes

    return parse


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
    parser.add_argument(
        "--split-sizes",
        type=sizes_argument(2, MAX_SPLIT_PARTS, must_have=2),
        default=SPLIT_SIZES,
        help="parts of the split series, comma-separated, 2 among them (default: 2,10,50,100)",
    )
    parser.add_argument(
        "--settle-sizes",
        type=sizes_argument(2, MAX_SPLIT_PARTS, count=2),
        default=SETTLE_SIZES,
        help="leaves of the settled trees, comma-separated, at least two sizes (default: 10,50)",
    )
    parser.add_argument(
        "--no-artifact-check",
        action="store_true",
        help="skip the fresh compile of contracts/ that checks the committed artifact",
    )
    args = parser.parse_args(argv)
    split_sizes: tuple[int, ...] = args.split_sizes
    settle_sizes: tuple[int, ...] = args.settle_sizes
    started = time.monotonic()

    with ThreadPoolExecutor(max_workers=2) as pool:  # two solcjs processes at once
        reference_job = pool.submit(compile_reference)
        current_job = None if args.no_artifact_check else pool.submit(artifact_is_current)
        erc20_job = pool.submit(compile_erc20)
        reference, ref_settings = reference_job.result()
        current = None if current_job is None else current_job.result()
        erc20 = erc20_job.result()
    ours_settings = CompilerSettings(solc_version(), OPTIMIZER_RUNS, True)  # compile_project's settings

    chain = in_process_chain()
    ours = bench_credchain(chain, split_sizes)
    relayed = bench_relay(chain)
    fin = bench_financing(chain, settle_sizes)
    ev = bench_evidence(chain)
    ref = bench_reference(chain, reference)
    plain = bench_erc20(chain, erc20)
    fork = type(chain.tester.backend.chain.get_vm()).__name__ if chain.tester is not None else "?"
    elapsed = time.monotonic() - started

    # gas per part beyond the carve's two, measured at each larger size of the series
    per_part = {n: round((ours.splits[n] - ours.splits[2]) / (n - 2), 1) for n in split_sizes if n > 2}
    largest_split = max(split_sizes)
    per_part_size = PER_PART_SIZE if PER_PART_SIZE in per_part else largest_split
    split_ratio = ratio(ours.carve, ref.carve)
    transfer_ratio = ratio(ours.transfer, ref.transfer)
    two_tx = plain.transfer + ref.transfer_held
    two_tx_fresh = plain.transfer_fresh + ref.transfer_fresh_receiver
    dvp_ratio = ratio(fin.dvp, two_tx)
    dvp_fresh_ratio = ratio(fin.dvp_fresh, two_tx_fresh)
    settle_per_note = {n: round(fin.settle[n] / n, 1) for n in settle_sizes}
    settle_low, settle_high = min(settle_sizes), max(settle_sizes)
    settle_marginal = round(
        (fin.settle[settle_high] - fin.settle[settle_low]) / (settle_high - settle_low), 1
    )
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
        **{f"split{n}_gas": ours.splits[n] for n in split_sizes},
        "split_gas_per_extra_part": per_part.get(per_part_size),
        f"split_gas_per_extra_part_{largest_split}": per_part.get(largest_split),
        "freeze_gas": ours.freeze,
        "unfreeze_gas": ours.unfreeze,
        "set_credit_limit_gas": ours.set_credit_limit,
        "approve_financier_gas": ours.approve_financier,
        "withdraw_financier_gas": ours.withdraw_financier,
        "onboard_member_gas": ours.onboard_member,
        "relayed_accept_gas": relayed.accept,
        "relayed_split_gas": relayed.carve,
        "relayed_transfer_gas": relayed.transfer,
        "dvp_gas": fin.dvp,
        "erc20_transfer_gas": plain.transfer,
        "ref_transfer_held_gas": ref.transfer_held,
        "two_tx_gas": two_tx,
        "dvp_ratio": dvp_ratio,
        "dvp_fresh_gas": fin.dvp_fresh,
        "erc20_transfer_fresh_gas": plain.transfer_fresh,
        "ref_transfer_fresh_receiver_gas": ref.transfer_fresh_receiver,
        "two_tx_fresh_gas": two_tx_fresh,
        "dvp_fresh_ratio": dvp_fresh_ratio,
        "settlement_token_transfer_gas": fin.token_transfer,
        "offer_discount_gas": fin.offer,
        "pay_full_gas": fin.pay_full,
        "pay_partial_gas": fin.pay_partial,
        **{f"settle{n}_gas": fin.settle[n] for n in settle_sizes},
        **{f"settle{n}_gas_per_note": settle_per_note[n] for n in settle_sizes},
        "settle_gas_per_extra_note": settle_marginal,
        "mark_overdue_gas": fin.mark_overdue,
        "write_off_gas": fin.write_off,
        "register_invoice_gas": ev.register_invoice,
        "register_record_gas": ev.register_record,
        "attest_first_gas": ev.attest_first,
        "attest_second_gas": ev.attest_second,
        "relayed_attest_gas": ev.relayed_attest,
        "revoke_attestation_gas": ev.revoke,
        "originate_receivable_gas": ev.originate,
        "originate_receivable_3_supporting_gas": ev.originate_supporting,
        "convert_receivable_gas": ev.convert,
        "ledger_runtime_bytes": ev.ledger_runtime_bytes,
        "evidence_registry_runtime_bytes": ev.registry_runtime_bytes,
        "erc20_contract": f"{ERC20_CONTRACT} (OpenZeppelin {openzeppelin_version()} ERC20, compiled here)",
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
    if dvp_ratio >= DVP_RATIO_GOAL:
        failures.append(f"dvp_ratio {dvp_ratio:.3f} >= goal {DVP_RATIO_GOAL:.2f}")

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
        rows += [(f"split into {n} parts", ours.splits[n], None) for n in split_sizes]
        rows += [
            ("freeze", ours.freeze, None),
            ("unfreeze", ours.unfreeze, None),
            ("setCreditLimit (a financier's first grant)", ours.set_credit_limit, None),
            ("markFinancierApproved(financier, true): approval", ours.approve_financier, None),
            ("markFinancierApproved(financier, false): withdrawal", ours.withdraw_financier, None),
            ("onboardMember (new account)", ours.onboard_member, None),
        ]
        out = ["# Gas: credchain CreditNoteLedger vs ERC-3525 reference (and OpenZeppelin ERC-20)", ""]
        out += table(rows)
        out += [
            "",
            "| split parts | total gas | gas per extra part over 2 parts |",
            "|---:|---:|---:|",
        ]
        for n in split_sizes:
            extra = "-" if n == 2 else f"{(ours.splits[n] - ours.splits[2]) / (n - 2):,.1f}"
            out.append(f"| {n} | {ours.splits[n]:,} | {extra} |")
        per_part_text = ", ".join(
            f"{per_part[n]:,.1f} ((split{n} - split2) / {n - 2})"
            for n in dict.fromkeys((per_part_size, largest_split))
            if n in per_part
        )
        out += [
            "",
            f"split gas per extra part: {per_part_text or '- (no split of more than 2 parts)'}",
            "",
            "## Relayed: signed by a self-custodied member (EIP-712), sent through the ERC-2771 forwarder",
            "",
            "| operation | direct | relayed | relayed - direct |",
            "|---|---:|---:|---:|",
            f"| accept (the member's first relayed request) | {ours.accept:,} | {relayed.accept:,} "
            f"| {relayed.accept - ours.accept:,} |",
            f"| carve a piece off (split 2: self + other) | {ours.carve:,} | {relayed.carve:,} "
            f"| {relayed.carve - ours.carve:,} |",
            f"| whole transfer | {ours.transfer:,} | {relayed.transfer:,} "
            f"| {relayed.transfer - ours.transfer:,} |",
            "",
            "## Delivery versus payment: one transaction against two",
            "",
            "| | steady state | fresh recipients |",
            "|---|---:|---:|",
            f"| credchain acceptDiscountOffer (note + price, one transaction) "
            f"| {fin.dvp:,} | {fin.dvp_fresh:,} |",
            f"| OpenZeppelin {openzeppelin_version()} ERC-20 transfer(to, price) "
            f"| {plain.transfer:,} | {plain.transfer_fresh:,} |",
            f"| ERC-3525 transferFrom(from, to, tokenId) "
            f"| {ref.transfer_held:,} | {ref.transfer_fresh_receiver:,} |",
            f"| two transactions: ERC-20 + ERC-3525 | {two_tx:,} | {two_tx_fresh:,} |",
            f"| ratio DvP / two transactions | {dvp_ratio:.3f} | {dvp_fresh_ratio:.3f} |",
            "",
            "steady state: every token balance involved is non-zero before and after; the ERC-3525 sender",
            "keeps another token and the receiver already holds one; the DvP also spends a finite allowance",
            "(non-zero after). fresh recipients: the payee never held tokens, the ERC-3525 receiver never",
            "held a token. The ERC-20 is OpenZeppelin's ERC20 unmodified (our SettlementToken adds member",
            f"checks: its steady-state transfer costs {fin.token_transfer:,}).",
            "",
            "## Financing and settlement",
            "",
            "| operation | gas |",
            "|---|---:|",
            f"| offerDiscount (the quote; not the first offer ever) | {fin.offer:,} |",
            f"| pay, in full (holder already holds tokens) | {fin.pay_full:,} |",
            f"| pay, in part | {fin.pay_partial:,} |",
            *(
                f"| settleRoot over a tree of {n} leaves (one call; {settle_per_note[n]:,.1f} per note) "
                f"| {fin.settle[n]:,} |"
                for n in settle_sizes
            ),
            f"| settleRoot, gas per extra note (({settle_high} leaves - {settle_low} leaves) / "
            f"{settle_high - settle_low}) | {settle_marginal:,.1f} |",
            f"| markOverdue | {fin.mark_overdue:,} |",
            f"| writeOff (of a note marked overdue) | {fin.write_off:,} |",
            "",
            "## Trade evidence and evidence-backed receivables (EvidenceRegistry)",
            "",
            "| operation | gas |",
            "|---|---:|",
            f"| registerEvidence: an invoice (amount, currency) | {ev.register_invoice:,} |",
            f"| registerEvidence: a delivery record (no amount) | {ev.register_record:,} |",
            f"| attestEvidence: the record's first attestation | {ev.attest_first:,} |",
            f"| attestEvidence: a second attester | {ev.attest_second:,} |",
            f"| attestEvidence, signed (EIP-712) and relayed | {ev.relayed_attest:,} |",
            f"| revokeAttestation | {ev.revoke:,} |",
            f"| originateReceivable (no supporting record) | {ev.originate:,} |",
            f"| originateReceivable (3 supporting records) | {ev.originate_supporting:,} |",
            f"| convertReceivable (by the buyer) | {ev.convert:,} |",
            "",
            f"runtime bytecode: CreditNoteLedger {ev.ledger_runtime_bytes:,} bytes, EvidenceRegistry "
            f"{ev.registry_runtime_bytes:,} bytes (EIP-170 limit 24,576)",
            "",
            "Cases: gasUsed from receipts (21,000 intrinsic and calldata included, refunds deducted);",
            "the contract has issued/minted/offered once before; in the first table every recipient has",
            "never held a note/token (the DvP cases are described under their table);",
            "split parts go to distinct members (part 0 back to the holder); the ERC-3525 whole transfer",
            "moves the sender's only token; ERC-3525 mint and transfers are sent by EOAs to EOAs.",
            "",
            f"reference contract: {REF_CONTRACT} ({REF_UNIT}, @solvprotocol/erc-3525 with its own OZ 4)",
            f"credchain compiler: {ours_settings.describe()} - deployed from the committed artifact, "
            + (
                "not compared with a fresh compile of contracts/ (--no-artifact-check)"
                if current is None
                else "which matches a fresh compile of contracts/"
                if current
                else "WARNING: STALE vs contracts/"
            ),
            f"reference compiler: {ref_settings.describe()}",
            f"ERC-20: {ERC20_CONTRACT} (OpenZeppelin {openzeppelin_version()} ERC20 + open mint), "
            f"compiled here with credchain's settings",
            f"EVM: py-evm {fork} (eth-tester in-process chain)",
            f"machine: {machine['platform']}, Python {machine['python']}, {machine['cpu']}, "
            f"{machine['cores']} cores",
            f"elapsed: {elapsed:.1f} s",
        ]
        if failures:
            out.append("GOALS NOT MET: " + "; ".join(failures) + (" (--no-check)" if args.no_check else ""))
        else:
            goals = (
                f"split_ratio <= {SPLIT_RATIO_GOAL:.2f}, transfer_ratio <= {TRANSFER_RATIO_GOAL:.2f}, "
                f"dvp_ratio < {DVP_RATIO_GOAL:.2f}"
            )
            out.append(f"goals met: {goals}")
        print("\n".join(out))
    elif failures and not args.no_check:
        print("GOALS NOT MET: " + "; ".join(failures), file=sys.stderr)
    print(json.dumps(result, sort_keys=True))
    return 1 if failures and not args.no_check else 0


if __name__ == "__main__":
    sys.exit(main())
