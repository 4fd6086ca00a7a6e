"""The console's two languages: the same messages in both, every key a template uses defined, and
the language negotiated from the switch's cookie or Accept-Language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.console.i18n import Translator, negotiate
from service.console.messages import EN, ZH

CONSOLE = Path(__file__).resolve().parents[2] / "service" / "console"
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_0-9.-]+)["']""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_both_languages_have_the_same_messages() -> None:
    assert set(EN) == set(ZH)


def test_both_languages_fill_the_same_placeholders() -> None:
    for key in EN:
        assert set(PLACEHOLDER.findall(EN[key])) == set(PLACEHOLDER.findall(ZH[key])), key


def test_every_message_a_template_or_route_names_exists() -> None:
    used = set()
    for path in [*CONSOLE.rglob("*.html"), *CONSOLE.rglob("*.py")]:
        used |= set(LITERAL_KEY.findall(path.read_text()))
    assert used, "no message keys found"
    assert sorted(key for key in used - set(EN) if not key.endswith("_")) == []


def test_every_status_has_its_message_in_each_family() -> None:
    from typing import get_args

    from service.api.financing.schemas import OfferStatus
    from service.domain import NoteStatus

    wanted = [f"status_{s.name.lower()}" for s in NoteStatus]
    wanted += [f"offer_status_{s}" for s in get_args(OfferStatus)]
    wanted += [f"member_status_{s}" for s in ("active", "suspended", "operator", "none")]
    wanted += [f"relationship_{s}" for s in ("approved", "withdrawn")]
    wanted += ["event_payment_received", "event_note_discounted"]
    wanted += [
        f"section_{s}"
        for s in ("awaiting_answer", "notes_held", "issued_pending", "outstanding", "all_notes")
    ]
    assert [key for key in wanted if key not in EN] == []


def test_no_template_has_visible_english_outside_a_message() -> None:
    """Text between tags is a message (or an expression), not a literal: every visible string is
    translated. Language names in their own language are the exception."""
    allowed = {"English", "简体中文"}
    for path in CONSOLE.rglob("*.html"):
        html = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}", "", path.read_text(), flags=re.S)
        for text in re.findall(r">([^<>]+)<", html):
            words = text.strip()
            if words not in allowed and re.search(r"[A-Za-z\u4e00-\u9fff]", words):
                pytest.fail(f"{path.name}: literal text {words!r}")


@pytest.mark.parametrize(
    ("cookie", "header", "locale"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "fr-FR,zh-TW;q=0.5", "zh"),
        (None, "de-DE", "en"),
        (None, None, "en"),
        (None, "en;q=0.1,zh;q=0.8", "zh"),
        ("en", "zh-CN", "en"),
        ("zh", "en", "zh"),
    ],
)
def test_the_language_follows_the_cookie_then_accept_language(
    cookie: str | None, header: str | None, locale: str
) -> None:
    assert negotiate(cookie, header) == locale


def test_a_message_is_filled_in_the_chosen_language() -> None:
    assert Translator("zh")("days_left_n", days=3) == "剩余 3 天"
