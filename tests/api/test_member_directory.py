"""The member directory: ids and names by address, one statement per lookup, cached once found."""

from __future__ import annotations

from typing import Any

from service.api.cache.members import MemberDirectory, MemberRef


class _Rows:
    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        self.rows = rows

    def all(self) -> list[tuple[str, str, str]]:
        return self.rows


class _Session:
    """Answers every lookup with the members it knows; counts statements."""

    def __init__(self, members: dict[str, tuple[str, str]]) -> None:
        self.members = members
        self.statements = 0

    def execute(self, stmt: Any) -> _Rows:
        self.statements += 1
        wanted = set(stmt.compile().params["address_1"])
        return _Rows([(a, i, n) for a, (i, n) in self.members.items() if a in wanted])


def test_one_statement_finds_the_ids_and_names_of_many_addresses() -> None:
    session = _Session({"0xa": ("m_a", "Acme"), "0xb": ("m_b", "Bank")})
    found = MemberDirectory().find(session, ["0xa", "0xb", "0xc"])  # type: ignore[arg-type]
    assert found == {"0xa": MemberRef("m_a", "Acme"), "0xb": MemberRef("m_b", "Bank")}
    assert session.statements == 1


def test_found_members_are_not_looked_up_again() -> None:
    session = _Session({"0xa": ("m_a", "Acme")})
    directory = MemberDirectory()
    directory.find(session, ["0xa"])  # type: ignore[arg-type]
    assert directory.ids(session, ["0xa"]) == {"0xa": "m_a"}  # type: ignore[arg-type]
    assert session.statements == 1
