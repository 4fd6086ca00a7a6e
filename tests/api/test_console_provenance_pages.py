"""The provenance graph's page and JSON over TestClient: holdings (a transfer is a new holding, a
split hangs parts from the last holding), the path to the asked note, the API's visibility rule
(another member's tree: the 404 page), and the link from a note's page."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from service.console.provenance import routes as provenance_routes
from service.console.provenance.tree import provenance_tree
from service.db.gateway_models import ApiMember
from tests.api.conftest import Gateway
from tests.console.helpers import sign_in


def split(gw: Gateway, who: str, note: str, parts: list[tuple[str, str]]) -> list[str]:
    body = {"parts": [{"to": gw.ids[to], "amount": amount} for to, amount in parts]}
    answer = gw.post(who, f"/v1/notes/{note}/split", body)
    assert answer.status_code in (200, 201), answer.text
    ids: list[str] = answer.json()["note_ids"]
    return ids


def tree_of_three(gw: Gateway) -> tuple[str, list[str]]:
    """core -> s1 (1,000,000), s1 splits 600,000 to s2 and 400,000 to itself, s2 passes its part to s3."""
    root = gw.active("s1", "1000000")
    parts = split(gw, "s1", root, [("s2", "600000"), ("s1", "400000")])
    for part in parts:
        pending = gw.get("s2", f"/v1/notes/{part}").json()
        if pending.get("status") == "pending" and pending["holder"] == gw.addresses["s2"]:
            assert gw.post("s2", f"/v1/notes/{part}/accept").status_code == 200
    answer = gw.post("s2", f"/v1/notes/{parts[0]}/transfer", {"to": gw.ids["s3"]})
    assert answer.status_code == 200, answer.text
    return root, parts


def graph_json(gw: Gateway, note: str) -> Any:
    answer = gw.client.get(f"/console/provenance/{note}/tree.json")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_transfer_is_a_second_holding_joined_by_a_transfer_edge(gw: Gateway) -> None:
    root, parts = tree_of_three(gw)
    sign_in(gw.client, gw.keys["auditor"])
    nodes = {n["id"]: n for n in graph_json(gw, root)["nodes"]}
    first, second = nodes[f"{parts[0]}.0"], nodes[f"{parts[0]}.1"]
    assert (first["holder"], first["status"], first["leaf"]) == (gw.addresses["s2"], "transferred", False)
    assert (second["holder"], second["edge"], second["parent"]) == (
        gw.addresses["s3"],
        "transfer",
        first["id"],
    )
    assert second["leaf"] is True


def test_the_parts_of_a_split_hang_from_the_split_notes_last_holding(gw: Gateway) -> None:
    root, parts = tree_of_three(gw)
    sign_in(gw.client, gw.keys["auditor"])
    nodes = {n["id"]: n for n in graph_json(gw, root)["nodes"]}
    assert nodes[f"{root}.0"]["parent"] is None and nodes[f"{root}.0"]["status"] == "split"
    assert {nodes[f"{p}.0"]["parent"] for p in parts} == {f"{root}.0"}
    assert {nodes[f"{p}.0"]["edge"] for p in parts} == {"split"}


def test_node_sizes_are_fifths_of_the_roots_amount_rounded_up(gw: Gateway) -> None:
    root, parts = tree_of_three(gw)
    sign_in(gw.client, gw.keys["auditor"])
    nodes = {n["id"]: n for n in graph_json(gw, root)["nodes"]}
    assert [nodes[f"{root}.0"]["size"], nodes[f"{parts[0]}.1"]["size"], nodes[f"{parts[1]}.0"]["size"]] == [
        5,
        3,
        2,
    ]


def test_the_path_runs_from_the_root_to_the_asked_notes_current_holding(gw: Gateway) -> None:
    root, parts = tree_of_three(gw)
    sign_in(gw.client, gw.keys["auditor"])
    assert graph_json(gw, parts[0])["path"] == [f"{root}.0", f"{parts[0]}.0", f"{parts[0]}.1"]


def test_each_notes_events_carry_transaction_hashes_and_block_times(gw: Gateway) -> None:
    root, parts = tree_of_three(gw)
    sign_in(gw.client, gw.keys["auditor"])
    events = graph_json(gw, root)["events"][parts[0]]
    assert [e["name"] for e in events][-1] == "NoteTransferred"
    assert all(re.fullmatch(r"0x[0-9a-f]{64}", e["tx_hash"]) and e["block_time"] for e in events)


def test_the_graph_page_has_the_table_view_of_every_holding(gw: Gateway) -> None:
    root, parts = tree_of_three(gw)
    sign_in(gw.client, gw.keys["auditor"])
    page = gw.client.get(f"/console/provenance/{root}")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-holding="([^"]+)" data-status="([^"]+)" data-leaf="(true|false)"', page.text)
    assert rows == [
        (f"{root}.0", "split", "false"),
        (f"{parts[0]}.0", "transferred", "false"),
        (f"{parts[0]}.1", "active", "true"),
        (f"{parts[1]}.0", "active", "true"),
    ]
    assert f'data-src="/console/provenance/{root}/tree.json"' in page.text


def test_a_member_of_the_tree_sees_its_graph(gw: Gateway) -> None:
    root, _parts = tree_of_three(gw)
    sign_in(gw.client, gw.keys["s3"])
    assert gw.client.get(f"/console/provenance/{root}").status_code == 200


def test_another_members_graph_is_the_404_page(gw: Gateway) -> None:
    root = gw.active("s1")
    sign_in(gw.client, gw.keys["s2"])
    page = gw.client.get(f"/console/provenance/{root}")
    assert page.status_code == 404 and 'data-testid="error-status"' in page.text
    assert gw.client.get(f"/console/provenance/{root}/tree.json").status_code == 404


def test_a_note_id_that_is_not_one_is_the_404_page(gw: Gateway) -> None:
    sign_in(gw.client, gw.keys["auditor"])
    assert gw.client.get("/console/provenance/not-a-note").status_code == 404


def test_the_find_form_sends_the_browser_to_the_notes_graph(gw: Gateway) -> None:
    root = gw.active("s1")
    sign_in(gw.client, gw.keys["auditor"])
    answer = gw.client.get("/console/provenance", params={"note": root}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/console/provenance/{root}"


def test_a_notes_page_links_to_its_graph(gw: Gateway) -> None:
    root = gw.active("s1")
    sign_in(gw.client, gw.keys["s1"])
    assert f'href="/console/provenance/{root}"' in gw.client.get(f"/console/notes/{root}").text


def test_the_tree_is_the_apis_provenance_of_every_note(gw: Gateway) -> None:
    root, _parts = tree_of_three(gw)
    api = gw.get("auditor", f"/v1/notes/{root}/provenance").json()
    with gw.context.session() as session:
        auditor = session.scalars(select(ApiMember).where(ApiMember.id == gw.ids["auditor"])).one()
        session.expunge(auditor)
    tree = provenance_tree(gw.context, auditor, root)
    assert {h.note_id for h in tree.holdings} == {n["id"] for n in api["tree"]}
    assert tree.notes == api["summary"]["notes"]
    assert json.loads(tree.as_json())["root_id"] == root


def test_a_big_trees_table_is_on_its_own_page(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _parts = tree_of_three(gw)
    monkeypatch.setattr(provenance_routes, "COLLAPSE_ABOVE", 2)
    sign_in(gw.client, gw.keys["auditor"])
    page = gw.client.get(f"/console/provenance/{root}")
    assert 'data-testid="table-link"' in page.text and "<tr data-holding=" not in page.text
    assert 'data-collapse-depth="4"' in page.text
    table = gw.client.get(f"/console/provenance/{root}/table")
    assert table.status_code == 200 and table.text.count("<tr data-holding=") == 4


def test_the_graphs_data_is_embedded_with_markup_escaped(gw: Gateway) -> None:
    root = gw.active("s1")
    sign_in(gw.client, gw.keys["auditor"])
    page = gw.client.get(f"/console/provenance/{root}").text
    found = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page, re.S)
    assert found is not None and "<" not in found.group(1)
    assert json.loads(found.group(1)) == graph_json(gw, root)


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("auditor", "/console/provenance/{root}"),
        ("auditor", "/console/provenance/{root}/table"),
        ("auditor", "/console/provenance"),
        ("auditor", "/console/risk"),
        ("s1", "/console/alerts"),
        ("s1", "/console/subscriptions"),
    ],
)
def test_each_page_renders_in_chinese(gw: Gateway, who: str, path: str) -> None:
    root = gw.active("s1")
    sign_in(gw.client, gw.keys[who])
    page = gw.client.get(path.format(root=root), headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and '<html lang="zh-Hans">' in page.text
