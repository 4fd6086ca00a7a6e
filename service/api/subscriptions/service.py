"""The rules of webhook subscriptions: who may see and change which, URL checks, the bound on a
member's subscriptions, pause, resume and replay (moving the cursor back)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.api.auth import sees_everything
from service.api.members.queries import resolve_party
from service.api.problems import ProblemError
from service.api.subscriptions.schemas import (
    DeliveryOut,
    DeliveryPage,
    ReplayIn,
    SubscriptionCreated,
    SubscriptionFilters,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from service.db.event_models import DomainEvent
from service.db.gateway_models import ApiMember
from service.db.webhook_models import WebhookDelivery, WebhookSubscription
from service.domain import OPERATOR
from service.settings import Settings
from service.webhooks.dispatcher import ACTIVE, PAUSED
from service.webhooks.secrets import SecretBox, new_secret, secret_text
from service.webhooks.urls import UrlRefused, check_url

MAX_DELIVERY_PAGE = 500


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def answer(sub: WebhookSubscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=str(sub.id),
        member_id=sub.member_id,
        url=sub.url,
        event_types=list(sub.event_types),
        filters=SubscriptionFilters(note_id=sub.note_id, root_id=sub.root_id, obligor=sub.obligor),
        description=sub.description,
        status=sub.status,  # type: ignore[arg-type]
        pause_reason=sub.pause_reason,
        cursor=sub.cursor,
        consecutive_failures=sub.consecutive_failures,
        total_deliveries=sub.total_deliveries,
        total_failures=sub.total_failures,
        next_attempt_at=_aware(sub.next_attempt_at),
        last_error=sub.last_error,
        created_at=_aware(sub.created_at) or sub.created_at,
        updated_at=_aware(sub.updated_at) or sub.updated_at,
    )


def allow_loopback(settings: Settings) -> bool:
    """Whether webhook URLs may name loopback (embedded mode, or the development setting)."""
    return settings.embedded or settings.webhook_allow_loopback


def checked_url(settings: Settings, url: str) -> str:
    try:
        return check_url(url, allow_loopback=allow_loopback(settings))
    except UrlRefused as refused:
        raise ProblemError(422, refused.slug, "Webhook URL refused", refused.detail, field="url") from refused


def _apply_filters(session: Session, sub: WebhookSubscription, filters: SubscriptionFilters) -> None:
    sub.note_id = filters.note_id
    sub.root_id = filters.root_id
    sub.obligor = (
        None if filters.obligor is None else resolve_party(session, filters.obligor, "filters.obligor")
    )


def _types(types: list[str]) -> list[str]:
    return sorted(set(types))


def create(
    session: Session, settings: Settings, member: ApiMember, body: SubscriptionIn
) -> SubscriptionCreated:
    url = checked_url(settings, body.url)
    count = session.scalar(
        select(func.count())
        .select_from(WebhookSubscription)
        .where(WebhookSubscription.member_id == member.id)
    )
    if (count or 0) >= settings.webhook_max_subscriptions:
        raise ProblemError(
            409,
            "subscription-limit",
            "Too many subscriptions",
            f"a member has at most {settings.webhook_max_subscriptions} webhook subscriptions",
        )
    secret = new_secret()
    now = datetime.now(UTC)
    last = session.scalar(select(func.coalesce(func.max(DomainEvent.seq), 0))) or 0
    sub = WebhookSubscription(
        member_id=member.id,
        url=url,
        event_types=_types(list(body.event_types)),
        description=body.description,
        encrypted_secret=SecretBox(settings.master_secret.get_secret_value()).encrypt(secret),
        status=ACTIVE,
        cursor=int(last),  # from now on; a replay sends earlier events
        consecutive_failures=0,
        total_failures=0,
        total_deliveries=0,
        created_at=now,
        updated_at=now,
    )
    _apply_filters(session, sub, body.filters)
    session.add(sub)
    session.commit()
    return SubscriptionCreated(**answer(sub).model_dump(), secret=secret_text(secret))


def _lists_all(member: ApiMember) -> bool:
    """The operator sees every member's subscriptions (not their secrets); nobody else does."""
    return sees_everything(member) and OPERATOR in member.role_names


def _not_found(subscription_id: str) -> ProblemError:
    return ProblemError(
        404, "subscription-not-found", "No such subscription", f"no subscription {subscription_id}"
    )


def find(
    session: Session, member: ApiMember, subscription_id: str, *, write: bool = False
) -> WebhookSubscription:
    """The subscription, if `member` owns it (or, to read, sees everything); else 404."""
    if not subscription_id.isascii() or not subscription_id.isdigit() or len(subscription_id) > 18:
        raise _not_found(subscription_id)
    sub = session.get(WebhookSubscription, int(subscription_id))
    if sub is None:
        raise _not_found(subscription_id)
    if sub.member_id != member.id and (write or not _lists_all(member)):
        raise _not_found(subscription_id)
    return sub


def list_for(session: Session, member: ApiMember) -> list[SubscriptionOut]:
    stmt = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if not _lists_all(member):
        stmt = stmt.where(WebhookSubscription.member_id == member.id)
    return [answer(sub) for sub in session.scalars(stmt)]


def _touch(session: Session, sub: WebhookSubscription) -> SubscriptionOut:
    sub.updated_at = datetime.now(UTC)
    session.commit()
    return answer(sub)


def patch(
    session: Session, settings: Settings, member: ApiMember, subscription_id: str, body: SubscriptionPatch
) -> SubscriptionOut:
    sub = find(session, member, subscription_id, write=True)
    if body.url is not None:
        sub.url = checked_url(settings, body.url)
    if body.event_types is not None:
        sub.event_types = _types(list(body.event_types))
    if body.filters is not None:
        _apply_filters(session, sub, body.filters)
    if "description" in body.model_fields_set:
        sub.description = body.description
    return _touch(session, sub)


def remove(session: Session, member: ApiMember, subscription_id: str) -> None:
    sub = find(session, member, subscription_id, write=True)
    session.query(WebhookDelivery).filter(WebhookDelivery.subscription_id == sub.id).delete()
    session.delete(sub)
    session.commit()


def pause(session: Session, member: ApiMember, subscription_id: str) -> SubscriptionOut:
    sub = find(session, member, subscription_id, write=True)
    if sub.status != ACTIVE:
        raise ProblemError(409, "subscription-not-active", "Subscription not active", f"it is {sub.status}")
    sub.status = PAUSED
    sub.pause_reason = "paused by its owner"
    return _touch(session, sub)


def resume(session: Session, member: ApiMember, subscription_id: str) -> SubscriptionOut:
    """Active again, at once, from where it stopped (nothing was skipped while paused)."""
    sub = find(session, member, subscription_id, write=True)
    if sub.status != PAUSED:
        raise ProblemError(409, "subscription-not-paused", "Subscription not paused", f"it is {sub.status}")
    sub.status = ACTIVE
    sub.pause_reason = None
    sub.consecutive_failures = 0
    sub.next_attempt_at = None
    return _touch(session, sub)


def replay(session: Session, member: ApiMember, subscription_id: str, body: ReplayIn) -> SubscriptionOut:
    """Move the cursor back: the events from `from_seq` (or recorded from `from_time`) on are sent
    again, with the `webhook-id` they had."""
    sub = find(session, member, subscription_id, write=True)
    if body.from_seq is not None:
        cursor = body.from_seq - 1
    else:
        before = session.scalar(
            select(func.coalesce(func.max(DomainEvent.seq), 0)).where(
                DomainEvent.recorded_at < body.from_time
            )
        )
        cursor = int(before or 0)
    if cursor > sub.cursor:
        raise ProblemError(
            409,
            "replay-ahead",
            "Replay would skip events",
            f"the subscription is at event {sub.cursor}; a replay moves it back, never forward",
            cursor=sub.cursor,
        )
    sub.cursor = cursor
    sub.consecutive_failures = 0
    sub.next_attempt_at = None
    return _touch(session, sub)


def deliveries(
    session: Session, member: ApiMember, subscription_id: str, cursor: int | None, limit: int
) -> DeliveryPage:
    """The subscription's delivery attempts, newest first."""
    sub = find(session, member, subscription_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
    if cursor is not None:
        stmt = stmt.where(WebhookDelivery.id < cursor)
    rows = list(session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return DeliveryPage(
        items=[
            DeliveryOut(
                id=str(r.id),
                event_seq=r.event_seq,
                webhook_id=r.webhook_id,
                attempt=r.attempt,
                status_code=r.status_code,
                error=r.error,
                latency_ms=round(r.latency_ms, 3),
                attempted_at=_aware(r.attempted_at) or r.attempted_at,
            )
            for r in rows
        ],
        next_cursor=str(rows[-1].id) if more and rows else None,
    )
