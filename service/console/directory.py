"""The member picker's list: active gateway members with a given role, from the API's member
directory (`service.api.members.service.list_members`)."""

from __future__ import annotations

from collections.abc import Iterable

from service.api.context import AppContext
from service.api.members.schemas import MemberOut
from service.api.members.service import list_members


def members_with(context: AppContext, roles: Iterable[str]) -> list[MemberOut]:
    wanted = set(roles)
    return [m for m in list_members(context).items if m.status == "active" and wanted & set(m.roles)]
