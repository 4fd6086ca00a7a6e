"""Copy the web console's front-end files from node_modules (npm, pinned in package-lock.json) into
service/console/static/vendor/, or --check that the committed copies are those files.

The gateway serves the copies itself (no CDN, no npm at run time: `make run` needs no Node); the
npm packages and their exact versions are package.json's. axe-core (accessibility checks) is a
development dependency read by the browser tests straight from node_modules, not vendored.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "service" / "console" / "static" / "vendor"

ASSETS: dict[str, list[tuple[str, str]]] = {
    # package -> (file in the package, file name under vendor/<package>/)
    "htmx.org": [("dist/htmx.min.js", "htmx.min.js"), ("LICENSE", "LICENSE")],
    # the risk dashboard's charts
    "echarts": [("dist/echarts.min.js", "echarts.min.js"), ("LICENSE", "LICENSE")],
    # the provenance graph: d3-hierarchy's tree layout, d3-zoom, d3-selection (one UMD bundle)
    "d3": [("dist/d3.min.js", "d3.min.js"), ("LICENSE", "LICENSE")],
}


def pinned_versions() -> dict[str, str]:
    manifest = json.loads((ROOT / "package.json").read_text())
    return {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}


def planned() -> list[tuple[Path, Path]]:
    """(source in node_modules, destination under vendor/) of every vendored file; exits if a package
    is missing or not the version package.json pins."""
    pins = pinned_versions()
    pairs = []
    for package, files in ASSETS.items():
        installed = NODE_MODULES / package / "package.json"
        if not installed.exists():
            sys.exit(f"{package} is not installed: run `npm ci`")
        version = json.loads(installed.read_text())["version"]
        if pins.get(package) != version:
            sys.exit(f"{package} {version} is installed, package.json pins {pins.get(package)}: run `npm ci`")
        for source, name in files:
            pairs.append((NODE_MODULES / package / source, VENDOR / package / name))
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the vendored files differ from npm's")
    args = parser.parse_args()
    pairs = planned()
    wanted = {dest for _, dest in pairs}
    if args.check:
        stale = [
            str(dest.relative_to(VENDOR))
            for source, dest in pairs
            if not dest.exists() or dest.read_bytes() != source.read_bytes()
        ]
        extra = [str(p.relative_to(VENDOR)) for p in VENDOR.rglob("*") if p.is_file() and p not in wanted]
        stale.extend(f"{name} (not from npm)" for name in sorted(extra))
        if stale:
            print("vendored console assets differ from node_modules: " + ", ".join(stale), file=sys.stderr)
            print(
                "run `.venv/bin/python scripts/vendor_console_assets.py`, commit the result", file=sys.stderr
            )
            return 1
        print(f"vendored console assets match node_modules ({len(pairs)} files)")
        return 0
    for source, dest in pairs:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(source.read_bytes())
        print(f"wrote {dest.relative_to(ROOT)} ({dest.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
