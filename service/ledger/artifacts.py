"""Load the compiled contract artifacts committed under service/ledger/artifacts/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


@dataclass(frozen=True)
class Artifact:
    """ABI and creation bytecode of a deployable contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    """Read `<name>.json` from the artifacts directory (cached: artifacts are immutable at run time)."""
    data = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())
    return Artifact(name=data["contractName"], abi=data["abi"], bytecode=data["bytecode"])
