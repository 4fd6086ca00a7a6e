"""/v1/subscriptions: a member's webhook subscriptions. Only the owner sees and changes its own;
the operator may list and read everyone's (never their secrets, which only the creation answer
shows). Delivery is `service.webhooks.dispatcher`'s."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from service.api.deps import Context, CurrentMember
from service.api.params import LedgerId
from service.api.schemas import Empty
from service.api.subscriptions import service
from service.api.subscriptions.schemas import (
    DeliveryPage,
    ReplayIn,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionOut,
    SubscriptionPatch,
)

router = APIRouter(tags=["webhook subscriptions"])


@router.post("/v1/subscriptions", response_model=SubscriptionCreated, status_code=201)
def create_subscription(body: SubscriptionIn, context: Context, member: CurrentMember) -> SubscriptionCreated:
    """Subscribe a URL to the events the caller may see (all types, or `event_types`), optionally
    only those of one note, tree or obligor. Delivery starts with the next event. The answer holds
    the signing secret, shown this once."""
    with context.session() as session:
        return service.create(session, context.settings, member, body)


@router.get("/v1/subscriptions", response_model=SubscriptionList)
def list_subscriptions(context: Context, member: CurrentMember) -> SubscriptionList:
    """The caller's subscriptions (the operator: everyone's)."""
    with context.session() as session:
        return SubscriptionList(items=service.list_for(session, member))


@router.get("/v1/subscriptions/{subscription_id}", response_model=SubscriptionOut)
def get_subscription(subscription_id: str, context: Context, member: CurrentMember) -> SubscriptionOut:
    with context.session() as session:
        return service.answer(service.find(session, member, subscription_id))


@router.patch("/v1/subscriptions/{subscription_id}", response_model=SubscriptionOut)
def patch_subscription(
    subscription_id: str, body: SubscriptionPatch, context: Context, member: CurrentMember
) -> SubscriptionOut:
    """Change the URL, event types, filters or description (the cursor stays)."""
    with context.session() as session:
        return service.patch(session, context.settings, member, subscription_id, body)


@router.delete("/v1/subscriptions/{subscription_id}", status_code=204)
def delete_subscription(subscription_id: str, context: Context, member: CurrentMember) -> Response:
    with context.session() as session:
        service.remove(session, member, subscription_id)
    return Response(status_code=204)


@router.post("/v1/subscriptions/{subscription_id}/pause", response_model=SubscriptionOut)
def pause_subscription(
    subscription_id: str, context: Context, member: CurrentMember, body: Empty | None = None
) -> SubscriptionOut:
    """Stop delivering; events wait (nothing is skipped) until `resume`."""
    with context.session() as session:
        return service.pause(session, member, subscription_id)


@router.post("/v1/subscriptions/{subscription_id}/resume", response_model=SubscriptionOut)
def resume_subscription(
    subscription_id: str, context: Context, member: CurrentMember, body: Empty | None = None
) -> SubscriptionOut:
    """Deliver again from where it stopped (also after the dispatcher paused it for failures)."""
    with context.session() as session:
        return service.resume(session, member, subscription_id)


@router.post("/v1/subscriptions/{subscription_id}/replay", response_model=SubscriptionOut)
def replay_subscription(
    subscription_id: str, body: ReplayIn, context: Context, member: CurrentMember
) -> SubscriptionOut:
    """Send the events from a sequence number (or a time) on again, each with its `webhook-id`."""
    with context.session() as session:
        return service.replay(session, member, subscription_id, body)


@router.get("/v1/subscriptions/{subscription_id}/deliveries", response_model=DeliveryPage)
def list_deliveries(
    subscription_id: str,
    context: Context,
    member: CurrentMember,
    cursor: Annotated[LedgerId | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_DELIVERY_PAGE)] = 100,
) -> DeliveryPage:
    """Delivery attempts, newest first: event, attempt number, status code or error, latency."""
    with context.session() as session:
        return service.deliveries(session, member, subscription_id, cursor, limit)
