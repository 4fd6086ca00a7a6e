"""Members' request and answer models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.api.schemas import StrictModel, with_example

RoleName = Literal["core_enterprise", "supplier", "financier", "auditor", "data_provider"]
"""`service.domain.ONBOARDABLE_ROLES` spelled out for the OpenAPI schema (tests/test_domain.py checks
they agree)."""


class MemberCreate(StrictModel):
    model_config = with_example(lambda: {"name": "Shenzhen Precision Parts Co.", "roles": ["supplier"]})

    name: str = Field(min_length=1, max_length=200)
    roles: list[RoleName] = Field(min_length=1)
    address: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$")


class MemberOut(BaseModel):
    id: str
    name: str
    address: str
    roles: list[str]
    custody: Literal["custodial", "self"]
    status: str
    created_at: datetime


class MemberCreated(MemberOut):
    api_key: str | None = Field(
        description="the member's API key, in the first answer only (null when an Idempotency-Key "
        "replays it: see api_key_note)"
    )
    api_key_note: str | None = None
    tx_hash: str | None


class MemberList(BaseModel):
    items: list[MemberOut]


class MemberStatusChanged(BaseModel):
    tx_hash: str
    block_number: int
    member: MemberOut
