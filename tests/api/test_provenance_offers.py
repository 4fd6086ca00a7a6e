"""What the provenance answer shows of discount offers: the events of an offer (DiscountOffered,
DiscountOfferCancelled, DiscountPaymentRecorded) only to callers who may see the offer by the rule of
the offer endpoints (its financier, the holder it was made to, the auditor and the operator), and
NoteDiscounted without the offer's id, price and payment reference to the others; the cache and the
ETag never hand one caller's view to another."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.financing import Fin, fin_fixture, fin_template_fixture, problem  # noqa: F401

OFFER_EVENTS = {"DiscountOffered", "DiscountOfferCancelled", "DiscountPaymentRecorded"}


@dataclass
class Story:
    root: str
    sold: str  # s2's piece, sold to bank
    kept: str  # s1's piece
    rival: str  # bank2's bid to s2
    bought: str  # bank's off-chain offer to s2, paid and accepted
    withdrawn: str  # bank's offer to s1, cancelled


def _story(fin: Fin) -> Story:
    """core issues to s1; s1 splits to s2, itself and bank2 (so bank2 sees the tree); bank2 bids
    on s2's piece, bank bids off-chain, records its payment and s2 accepts; bank offers on s1's
    piece and cancels."""
    root = fin.issue_to("s1", 1_000_000, days=30)
    sold, kept, _ = fin.split("s1", root, [("s2", 600_000), ("s1", 300_000), ("bank2", 100_000)])
    rival = fin.offer(sold, who="bank2", price="580000")["id"]
    bought = fin.offer(sold, who="bank", price="585000", off_chain=True)["id"]
    paid = fin.post("bank", f"/v1/discount-offers/{bought}/payment", {"reference": "WIRE-77"})
    assert paid.status_code == 200, paid.text
    assert fin.post("s2", f"/v1/discount-offers/{bought}/accept").status_code == 200
    withdrawn = fin.offer(kept, who="bank", price="290000")["id"]
    assert fin.post("bank", f"/v1/discount-offers/{withdrawn}/cancel").status_code == 200
    return Story(root, sold, kept, rival, bought, withdrawn)


def _trace(fin: Fin, who: str, note_id: str, **headers: str) -> Any:
    return fin.client.get(f"/v1/notes/{note_id}/provenance", headers={**fin.auth(who), **headers})


def _offer_events(trace: dict[str, Any]) -> set[tuple[str, str]]:
    """(event name, offer id) of every offer event in the tree."""
    return {
        (e["name"], str(e["args"]["offerId"]))
        for node in trace["tree"]
        for e in node["events"]
        if e["name"] in OFFER_EVENTS
    }


def _discounted(trace: dict[str, Any]) -> dict[str, Any]:
    (event,) = [e for node in trace["tree"] for e in node["events"] if e["name"] == "NoteDiscounted"]
    args: dict[str, Any] = event["args"]
    return args


def _expected(story: Story, who: str) -> set[tuple[str, str]]:
    rival = {("DiscountOffered", story.rival)}
    bought = {("DiscountOffered", story.bought), ("DiscountPaymentRecorded", story.bought)}
    withdrawn = {("DiscountOffered", story.withdrawn), ("DiscountOfferCancelled", story.withdrawn)}
    return {
        "core": set(),  # the obligor
        "s1": withdrawn,  # an earlier holder (of the root): only the offer made to it
        "s2": rival | bought,  # the seller: the bids made to it
        "bank": bought | withdrawn,  # the buying financier: its own offers
        "bank2": rival,  # a competing financier: its own bid
        "auditor": rival | bought | withdrawn,
        "operator": rival | bought | withdrawn,
    }[who]


ROLES = ["core", "s1", "s2", "bank", "bank2", "auditor", "operator"]
SEES_THE_SALE = {"s2", "bank", "auditor", "operator"}


@pytest.mark.parametrize("who", ROLES)
def test_each_role_sees_the_offer_events_of_the_offers_it_may_see(fin: Fin, who: str) -> None:
    story = _story(fin)
    answer = _trace(fin, who, story.sold)
    assert answer.status_code == 200, answer.text
    trace = answer.json()
    assert _offer_events(trace) == _expected(story, who)
    args = _discounted(trace)
    assert args["to"] == fin.addresses["bank"] and args["from"] == fin.addresses["s2"]
    if who in SEES_THE_SALE:
        assert str(args["offerId"]) == story.bought and str(args["price"]) == "585000"
        assert "paymentReference" in args
    else:
        assert not {"offerId", "price", "paymentReference"} & args.keys()


@pytest.mark.parametrize("who", ROLES)
def test_the_offer_events_a_role_sees_are_the_offers_the_offer_endpoint_lists_it(fin: Fin, who: str) -> None:
    story = _story(fin)
    listed = {o["id"] for o in fin.get(who, "/v1/discount-offers").json()["items"]}
    shown = {offer for _, offer in _offer_events(_trace(fin, who, story.root).json())}
    assert shown == listed


def test_a_member_outside_the_tree_sees_no_provenance(fin: Fin) -> None:
    story = _story(fin)
    problem(_trace(fin, "s3", story.sold), 404, "note-not-found")
    problem(_trace(fin, "core2", story.root), 404, "note-not-found")


@pytest.mark.parametrize("first", ["auditor", "core", "bank2"])
def test_the_cache_never_serves_one_callers_view_to_another(fin: Fin, first: str) -> None:
    story = _story(fin)
    assert _trace(fin, first, story.sold).status_code == 200  # the parts are cached now
    for who in ROLES:
        trace = _trace(fin, who, story.sold).json()
        assert _offer_events(trace) == _expected(story, who), who


def test_callers_with_different_views_get_different_etags_and_no_304_for_anothers(fin: Fin) -> None:
    story = _story(fin)
    full = _trace(fin, "auditor", story.sold)
    obligor = _trace(fin, "core", story.sold)
    assert full.headers["etag"] != obligor.headers["etag"]
    again = _trace(fin, "core", story.sold, **{"If-None-Match": full.headers["etag"]})
    assert again.status_code == 200 and again.content == obligor.content
    assert _offer_events(again.json()) == set()
    assert _trace(fin, "core", story.sold, **{"If-None-Match": obligor.headers["etag"]}).status_code == 304


def test_callers_with_the_same_view_share_the_etag(fin: Fin) -> None:
    story = _story(fin)
    assert (
        _trace(fin, "auditor", story.kept).headers["etag"]
        == _trace(fin, "operator", story.kept).headers["etag"]
    )
