"""Which webhook URLs a subscription may name: https to a public address; http (or https) to
loopback only where loopback is allowed (embedded mode, or `CREDCHAIN_WEBHOOK_ALLOW_LOOPBACK`);
never a private, link-local, multicast, reserved or unspecified address. The host is resolved when
the URL is checked; the dispatcher follows no redirects."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

Resolver = Callable[[str, int], list[str]]


class UrlRefused(ValueError):
    """The URL may not receive webhooks; `slug` names the problem type."""

    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (empty if it does not)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def check_url(url: str, *, allow_loopback: bool, resolver: Resolver = resolve) -> str:
    """`url` if a webhook may be sent to it; else UrlRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("invalid-webhook-url", f"not a URL: {exc}") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UrlRefused("invalid-webhook-url", "a webhook URL is https://host/path")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("invalid-webhook-url", "a webhook URL carries no credentials")
    if parts.fragment:
        raise UrlRefused("invalid-webhook-url", "a webhook URL has no fragment")
    host = parts.hostname
    addresses = resolver(host, port or (443 if parts.scheme == "https" else 80))
    if not addresses:
        raise UrlRefused("webhook-host-unresolved", f"{host!r} does not resolve to an address")
    loopback = True
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if address.is_loopback:
            if not allow_loopback:
                raise UrlRefused(
                    "webhook-url-forbidden", f"{host!r} is a loopback address ({text}): not outside dev mode"
                )
            continue
        loopback = False
        if (
            address.is_private
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
            or not address.is_global
        ):
            raise UrlRefused(
                "webhook-url-forbidden", f"{host!r} resolves to {text}, a private or reserved address"
            )
    if parts.scheme == "http" and not loopback:
        raise UrlRefused("invalid-webhook-url", "webhooks go over https (http only to loopback in dev mode)")
    return url
