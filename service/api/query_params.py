"""Query parameters a route does not declare are refused (422 `invalid-request`), not ignored: a
misspelt filter must not answer as if there were none. One app-wide dependency does it."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from service.api.problems import ProblemError


def declared_query_parameters(dependant: Dependant) -> frozenset[str]:
    """The names (aliases) of the query parameters of `dependant` and its sub-dependencies; a
    pydantic model declared as a query parameter contributes its fields."""
    return frozenset(_names(dependant))


def _names(dependant: Dependant) -> Iterator[str]:
    for field in dependant.query_params:
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for name, info in annotation.model_fields.items():
                yield info.alias or name
        else:
            yield field.alias
    for sub in dependant.dependencies:
        yield from _names(sub)


async def reject_unknown_query_parameters(request: Request) -> None:
    """422 naming the query parameters the matched route does not declare, and those it does."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    accepted = declared_query_parameters(route.dependant)
    unknown = sorted({key for key in request.query_params if key not in accepted})
    if unknown:
        raise ProblemError(
            422,
            "invalid-request",
            "The request is not valid",
            f"unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(accepted)) or 'none'}",
            unknown_parameters=unknown,
            accepted_parameters=sorted(accepted),
        )
