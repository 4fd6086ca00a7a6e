"""Custodial keys: generated, encrypted at rest with the master secret (eth-account keystore JSON),
decrypted on first use and cached per application context (never in a global)."""

from __future__ import annotations

import threading
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount


class Keyring:
    """Encrypts new custodial keys and caches decrypted ones, by address."""

    def __init__(self, master_secret: str, iterations: int) -> None:
        self._secret = master_secret
        self._iterations = iterations
        self._cache: dict[str, LocalAccount] = {}
        self._lock = threading.Lock()

    def create(self) -> tuple[LocalAccount, dict[str, Any]]:
        """A new account and its keystore JSON, encrypted with the master secret."""
        account: LocalAccount = Account.create()
        keystore = self.encrypt(account)
        with self._lock:
            self._cache[account.address] = account
        return account, keystore

    def encrypt(self, account: LocalAccount) -> dict[str, Any]:
        return dict(Account.encrypt(account.key, self._secret, kdf="pbkdf2", iterations=self._iterations))

    def add(self, account: LocalAccount) -> None:
        with self._lock:
            self._cache[account.address] = account

    def account(self, address: str, keystore: dict[str, Any]) -> LocalAccount:
        """The signing account of `address`, decrypting `keystore` on first use."""
        with self._lock:
            cached = self._cache.get(address)
        if cached is not None:
            return cached
        account: LocalAccount = Account.from_key(Account.decrypt(keystore, self._secret))
        with self._lock:
            self._cache[address] = account
        return account
