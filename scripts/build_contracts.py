"""Compile contracts/ and write service/ledger/artifacts/<Name>.json, or --check they are current."""

from __future__ import annotations

import argparse
import sys

from service.ledger.compiler import ARTIFACTS_DIR, compile_project


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed artifacts differ")
    args = parser.parse_args()
    compiled = compile_project()
    stale = []
    for name, contract in sorted(compiled.items()):
        path = ARTIFACTS_DIR / f"{name}.json"
        fresh = contract.to_json()
        if args.check:
            if not path.exists() or path.read_text() != fresh:
                stale.append(path.name)
        else:
            path.write_text(fresh)
            size = len(contract.bytecode) // 2 - 1
            print(f"wrote {path.name} ({size} bytes of creation code)")
    if args.check:
        extra = {p.stem for p in ARTIFACTS_DIR.glob("*.json")} - set(compiled)
        stale.extend(f"{name}.json (no such contract)" for name in sorted(extra))
        if stale:
            print("artifacts differ from a fresh compile: " + ", ".join(stale), file=sys.stderr)
            print("run `make build` and commit the result", file=sys.stderr)
            return 1
        print(f"artifacts match a fresh compile ({len(compiled)} contracts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
