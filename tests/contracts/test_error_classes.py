"""Every custom error a ledger transaction can revert with (the ledger's and the settlement token's)
has a typed exception; revert data decodes to it."""

from __future__ import annotations

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from service.ledger import errors
from service.ledger.abi_codec import ErrorDecoder
from service.ledger.sender import revert_abi

ABI = revert_abi()
ABI_ERRORS = {entry["name"] for entry in ABI if entry["type"] == "error"}


def test_every_error_in_the_ledger_abi_has_a_revert_class_of_the_same_name() -> None:
    missing = ABI_ERRORS - set(errors.REVERT_CLASSES)
    assert not missing, f"no class in service.ledger.errors for: {sorted(missing)}"
    for name in ABI_ERRORS:
        cls = errors.REVERT_CLASSES[name]
        assert cls.__name__ == name
        assert issubclass(cls, errors.LedgerRevert)


def test_every_revert_class_stands_for_an_error_in_the_ledger_abi() -> None:
    assert set(errors.REVERT_CLASSES) - ABI_ERRORS == set()


def test_revert_from_data_decodes_a_known_error_with_its_named_arguments() -> None:
    caller = "0x00000000000000000000000000000000000000aB"
    data = keccak(text="NotHolder(uint256,address)")[:4] + abi_encode(["uint256", "address"], [42, caller])
    exc = errors.revert_from_data(ErrorDecoder(ABI), data)
    assert type(exc) is errors.NotHolder
    assert exc.error_name == "NotHolder"
    assert exc.arguments == {"noteId": 42, "caller": "0x00000000000000000000000000000000000000AB"}


def test_revert_from_data_decodes_unknown_data_to_unknown_revert() -> None:
    data = bytes.fromhex("deadbeef") + b"\x01" * 32
    exc = errors.revert_from_data(ErrorDecoder(ABI), data)
    assert type(exc) is errors.UnknownRevert
    assert exc.error_name == "UnknownRevert"
    assert exc.arguments == {"data": "0x" + data.hex()}


def test_revert_from_data_decodes_a_panic_to_unknown_revert() -> None:
    data = keccak(text="Panic(uint256)")[:4] + abi_encode(["uint256"], [0x11])
    exc = errors.revert_from_data(ErrorDecoder(ABI), data)
    assert type(exc) is errors.UnknownRevert
    assert exc.arguments == {"data": "0x" + data.hex()}
