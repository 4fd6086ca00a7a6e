"""Compile Solidity sources with solcjs (npm) driven by py-solc-x through scripts/solcjs-shim.

Used by `make build` (writes the committed artifacts), by the CI check that those artifacts match a
fresh compile, and by the gas benchmark (which also compiles the ERC-3525 reference).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHIM = PROJECT_ROOT / "scripts" / "solcjs-shim"
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
OPTIMIZER_RUNS = 10_000


@dataclass(frozen=True)
class CompiledContract:
    """ABI and creation bytecode of one contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str

    def to_json(self) -> str:
        payload = {"contractName": self.name, "abi": self.abi, "bytecode": self.bytecode}
        return json.dumps(payload, indent=1, sort_keys=True) + "\n"


def compile_sources(
    sources: dict[str, Path],
    base_path: Path = PROJECT_ROOT,
    remappings: tuple[str, ...] = ("@openzeppelin/=node_modules/@openzeppelin/",),
    optimizer_runs: int = OPTIMIZER_RUNS,
    via_ir: bool = True,
) -> dict[str, CompiledContract]:
    """Compile `sources` (unit name -> file) and return every contract they define, by name."""
    standard_input = {
        "language": "Solidity",
        "sources": {unit: {"content": path.read_text()} for unit, path in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": optimizer_runs},
            "viaIR": via_ir,
            "remappings": list(remappings),
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    output = solcx.compile_standard(standard_input, solc_binary=str(SHIM), base_path=str(base_path))
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("\n".join(e.get("formattedMessage", str(e)) for e in errors))
    compiled: dict[str, CompiledContract] = {}
    for unit in sources:
        for name, data in output["contracts"][unit].items():
            compiled[name] = CompiledContract(
                name=name, abi=data["abi"], bytecode="0x" + data["evm"]["bytecode"]["object"]
            )
    return compiled


def compile_project() -> dict[str, CompiledContract]:
    """Compile every .sol file under contracts/, keeping only deployable (non-empty) contracts."""
    sources = {
        f"contracts/{p.relative_to(CONTRACTS_DIR).as_posix()}": p
        for p in sorted(CONTRACTS_DIR.rglob("*.sol"))
    }
    compiled = compile_sources(sources)
    return {name: c for name, c in compiled.items() if c.bytecode != "0x"}
