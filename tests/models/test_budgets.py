"""Parameter budgets: the width each model gets is the nearest to the budget, and budgets out of reach are
usage errors."""

import pytest

from bench.core.errors import UsageError
from bench.models import (Architecture, Layer, ModelChoice, load_builtin_models, parameter_count, register_model, sine,
                          width_for_budget)


def count(model: ModelChoice, d_in: int, width: int, layers: int, d_out: int) -> int:
    return parameter_count(Architecture(d_in, width, layers, d_out).layers_of(model.entry.meta["plan"]))


def bottleneck(d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
    """A user's plan: every other hidden layer half as wide."""
    sizes = [d_in] + [width if i % 2 == 0 else max(1, width // 2) for i in range(layers)]
    return [Layer(a, b, sine) for a, b in zip(sizes, sizes[1:])] + [Layer(sizes[-1], d_out, None)]


def test_the_width_found_is_the_nearest_to_the_budget_for_every_model_and_a_plugin_plan():
    @register_model(name="bottleneck_test", plan=bottleneck)
    def bottleneck_test(member):
        """test plugin: default init on a bottleneck plan"""

    out_of_reach = set()
    for entry in load_builtin_models():
        model = ModelChoice(entry, {})
        for (d_in, d_out), layers, budget in [((1, 1), 2, 700), ((2, 3), 4, 12_345), ((1, 1), 3, 300_000)]:
            smallest = count(model, d_in, 1, layers, d_out)
            if smallest > 1.1 * budget:  # a part the width does not size (hash_grid's MLP, incode's harmonizer)
                with pytest.raises(UsageError, match=f"give a budget of at least {smallest:,}"):
                    width_for_budget(model, d_in, layers, d_out, budget)
                out_of_reach.add(entry.name)
                continue
            width, found = width_for_budget(model, d_in, layers, d_out, budget)
            assert found == count(model, d_in, width, layers, d_out)
            assert abs(found - budget) <= 0.1 * budget
            for other in (width - 1, width + 1):
                if other >= 1:  # neighbours are no nearer (a rounding plan may tie: then the narrower wins)
                    assert abs(count(model, d_in, other, layers, d_out) - budget) >= abs(found - budget)
                    if count(model, d_in, other, layers, d_out) == found:
                        assert other > width
    assert out_of_reach == {"hash_grid", "incode"}


def test_a_budget_no_width_reaches_is_a_usage_error_naming_model_and_budget():
    with pytest.raises(UsageError, match=r"no width gives siren with 4 hidden layers about 5 parameters"):
        width_for_budget(ModelChoice(load_builtin_models().get("siren"), {}), 1, 4, 1, 5)
