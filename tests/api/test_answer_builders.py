"""Answer builders are recorded by name (`module:function`) with an idempotent write and found again
by that name when a retry rebuilds the answer: the names of the moved use cases resolve."""

from __future__ import annotations

import pytest

from service.api.financing.service import credit_limit_answer, relationship_answer
from service.api.ledger_settings.service import min_part_amount_answer
from service.api.members.service import onboarded_answer
from service.api.writes import AnswerBuilder, builder_name, find_builder


@pytest.mark.parametrize(
    "build", [onboarded_answer, credit_limit_answer, relationship_answer, min_part_amount_answer]
)
def test_a_moved_answer_builder_is_found_by_its_recorded_name(build: AnswerBuilder) -> None:
    assert find_builder(builder_name(build)) is build


def test_a_name_outside_the_service_package_is_not_a_builder() -> None:
    with pytest.raises(LookupError):
        find_builder("os:system")


def test_a_builder_name_that_no_longer_exists_is_refused() -> None:
    with pytest.raises(LookupError):
        find_builder("service.api.members.service:no_such_answer")


def _every_answer_builder() -> list[AnswerBuilder]:
    """Every module-level function of the gateway shaped like an answer builder (context, inputs,
    sent), found by walking service.api."""
    import importlib
    import inspect
    import pkgutil

    import service.api

    found: list[AnswerBuilder] = []
    for module_info in pkgutil.walk_packages(service.api.__path__, "service.api."):
        module = importlib.import_module(module_info.name)
        for _name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and list(inspect.signature(fn).parameters) == [
                "context",
                "inputs",
                "sent",
            ]:
                found.append(fn)
    return found


def test_every_answer_builder_of_the_gateway_is_found_by_its_name() -> None:
    builders = _every_answer_builder()
    assert len(builders) >= 12  # notes, settlement, discounts, tokens, relay, members, credit, settings
    for build in builders:
        assert find_builder(builder_name(build)) is build, builder_name(build)
