"""The console's languages: English and Simplified Chinese, one typed catalogue per locale
(`service.console.messages`), chosen by the `cc_locale` cookie (the switch in the header) or else
the browser's Accept-Language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from service.console.messages import EN, ZH

Locale = Literal["en", "zh"]
LOCALES: Final[tuple[Locale, ...]] = ("en", "zh")
CATALOGUES: Final[dict[Locale, dict[str, str]]] = {"en": EN, "zh": ZH}
LOCALE_COOKIE = "cc_locale"
HTML_LANG: Final[dict[Locale, str]] = {"en": "en", "zh": "zh-Hans"}


def negotiate(cookie: str | None, accept_language: str | None) -> Locale:
    """The cookie's locale if it names one, else the first of Accept-Language's languages (by
    quality) that the console speaks, else English."""
    if cookie == "zh":
        return "zh"
    if cookie == "en":
        return "en"
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.lower()))
    for _q, _p, tag in sorted(ranked):
        primary = tag.split("-", 1)[0]
        if primary == "zh":
            return "zh"
        if primary == "en":
            return "en"
    return "en"


@dataclass(frozen=True)
class Translator:
    """`t(key, **values)`: the locale's text of `key`, with `{name}` placeholders filled."""

    locale: Locale

    def __call__(self, key: str, **values: object) -> str:
        text = CATALOGUES[self.locale].get(key)
        if text is None:
            raise KeyError(f"no console message {key!r} in {self.locale}")
        return text.format(**values) if values else text

    @property
    def catalogue(self) -> dict[str, str]:
        return CATALOGUES[self.locale]

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.locale]
