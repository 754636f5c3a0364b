"""The registry of schemes and tasks (bench.core.registry): typed, defaulted parameters and their parsing."""

import pytest

from bench.core.errors import UsageError
from bench.core.registry import Registry


def test_registry_rejects_unannotated_or_undefaulted_params():
    registry = Registry("thing", skip=1)
    with pytest.raises(TypeError):
        registry.register()(lambda m, x=1: None)

    def needs_default(m, x: float):
        return None

    with pytest.raises(TypeError):
        registry.register()(needs_default)


def test_bool_and_int_parameters_parse():
    registry = Registry("thing", skip=1)

    @registry.register()
    def scheme(m, flag: bool = False, count: int = 2):
        """A scheme."""

    entry = registry.get("scheme")
    assert entry.parse_params("flag=true,count=5") == {"flag": True, "count": 5}
    with pytest.raises(UsageError):
        entry.parse_params("count=2.5")
    assert entry.summary == "A scheme."


def test_a_text_parameter_with_choices_takes_only_them():
    from typing import Annotated

    from bench.core.registry import Bound, OneOf

    registry = Registry("thing", skip=1)

    @registry.register()
    def scheme(m, kind: Annotated[str, OneOf("a", "b")] = "a"):
        """A scheme."""

    entry = registry.get("scheme")
    assert entry.parse_params("kind=b") == {"kind": "b"} and entry.params["kind"].coerce("a") == "a"
    with pytest.raises(ValueError, match="must be one of a, b"):
        entry.params["kind"].coerce("c")  # a spec's value

    def counted(m, n: Annotated[int, OneOf("1")] = 1):
        return None

    def worded(m, word: Annotated[str, Bound(0)] = "x"):
        return None

    def defaulted(m, kind: Annotated[str, OneOf("a", "b")] = "c"):
        return None

    for wrong in (counted, worded, defaulted):
        with pytest.raises(TypeError, match="OneOf|choices"):
            registry.register()(wrong)
