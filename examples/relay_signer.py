"""The self-custodied member's side of the relay (examples/relay.sh): its key, the ledger call it
encodes from the ledger's ABI, and its EIP-712 signature over what `POST /v1/relay/prepare`
answered. The key never leaves the member's machine: it is read from the environment.

    relay_signer.py key                       a new key: prints "<private key> <address>"
    relay_signer.py calldata FUNCTION ARGS    the ledger call (ARGS a JSON list), as 0x hex
    relay_signer.py sign TYPED_JSON           {"request", "signature"} for POST /v1/relay,
                                              signed with the key in $MEMBER_KEY
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3

REPO = Path(__file__).resolve().parent.parent
LEDGER_ABI = REPO / "service" / "ledger" / "artifacts" / "CreditNoteLedger.json"


def new_key() -> str:
    account = Account.create()
    return f"{account.key.to_0x_hex()} {account.address}"


def calldata(function: str, arguments: str) -> str:
    abi = json.loads(LEDGER_ABI.read_text())["abi"]
    return str(Web3().eth.contract(abi=abi).encode_abi(function, json.loads(arguments)))


def sign(typed_path: str, private_key: str) -> str:
    typed = json.loads(Path(typed_path).read_text())  # the answer of POST /v1/relay/prepare, as is
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key=private_key)
    return json.dumps({"request": typed["message"], "signature": signed.signature.to_0x_hex()})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("key")
    encode = commands.add_parser("calldata")
    encode.add_argument("function")
    encode.add_argument("arguments", help="a JSON list")
    signing = commands.add_parser("sign")
    signing.add_argument("typed", help="the answer of POST /v1/relay/prepare")
    options = parser.parse_args()
    if options.command == "key":
        print(new_key())
    elif options.command == "calldata":
        print(calldata(options.function, options.arguments))
    else:
        private_key = os.environ.get("MEMBER_KEY")
        if not private_key:
            parser.error("MEMBER_KEY (the member's private key) is not set")
        print(sign(options.typed, private_key))


if __name__ == "__main__":
    main()
