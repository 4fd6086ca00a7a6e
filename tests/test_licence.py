"""Every manifest names the one licence of the LICENSE file: Apache-2.0."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LICENCE = "Apache-2.0"
SPDX = re.compile(r"^// SPDX-License-Identifier: (\S+)$", re.MULTILINE)


def test_license_file_is_the_apache_2_0_text() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "END OF TERMS AND CONDITIONS" in text


def test_pyproject_declares_apache_2_0_and_ships_the_license_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert (project["license"], project["license-files"]) == (LICENCE, ["LICENSE"])


def test_package_json_and_its_lock_declare_apache_2_0() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert (package["license"], lock["packages"][""]["license"]) == (LICENCE, LICENCE)


def test_every_contract_carries_the_apache_2_0_spdx_line() -> None:
    sources = sorted((ROOT / "contracts").rglob("*.sol"))
    assert sources
    assert {path.name: SPDX.findall(path.read_text()) for path in sources} == {
        path.name: [LICENCE] for path in sources
    }
