"""The console's TestClient tests share the API tests' gateway fixtures (a consortium onboarded once
per session; a copy of its database and a chain snapshot per test)."""

from __future__ import annotations

from tests.api.conftest import _template, gw

__all__ = ["_template", "gw"]
