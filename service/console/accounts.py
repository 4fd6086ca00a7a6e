"""The member's settlement-token balances, read from the chain as `GET /v1/settlement-tokens/
{currency}/accounts/{member}` reads them (`service.api.tokens.service.account_out`)."""

from __future__ import annotations

from service.api.context import AppContext
from service.api.financing.queries import require_token
from service.api.tokens.schemas import AccountOut
from service.api.tokens.service import account_out, registered_tokens
from service.db.gateway_models import ApiMember


def balances(context: AppContext, member: ApiMember) -> list[AccountOut]:
    """`member`'s account in every registered settlement token."""
    return [
        account_out(context, require_token(context, token.currency), member, token.currency)
        for token in registered_tokens(context).items
    ]
