"""Model strings (bench.models.parse_model): the built-in schemes, typed values and labels, and usage errors that
list the valid choices."""

import pytest

from bench.core.errors import UsageError
from bench.models import load_builtin_models, parse_model


def test_builtin_schemes_and_their_parameters():
    models = load_builtin_models()
    assert {"siren", "siren2", "siren2_filtered", "winner"} <= set(models.names())
    filtered = models.get("siren2_filtered")
    assert list(filtered.params) == ["S0", "a", "decay", "w0", "w0_first"]
    assert filtered.params["decay"].default == 0.9 and filtered.params["decay"].type is float
    assert filtered.params["S0"].optional and filtered.params["S0"].default is None


def test_parse_model_with_typed_values_and_label():
    choice = parse_model("siren2_filtered:S0=0.05,decay=0.9")
    assert choice.params == {"S0": 0.05, "decay": 0.9}
    assert choice.label == "siren2_filtered:S0=0.05,decay=0.9"
    assert parse_model("winner:s0=auto").params == {}  # auto is the default: the same model as plain winner
    assert parse_model("siren").label == "siren"


@pytest.mark.parametrize("text, fragment", [
    ("nope", "choose one of: "),
    ("siren2:S1=0.1", "unknown parameter 'S1'"),
    ("siren2:S0=abc", "is not a valid float"),
    ("siren2:S0", "expected key=value"),
    ("siren2:S0=nan", "S0=nan must be a finite number"),
    ("siren2:S0=-0.1", "S0=-0.1 must be >= 0"),
    ("siren2:a=0", "a=0 must be > 0"),
    ("siren2:a=" + "9" * 400, "must be a finite number"),
    ("meta_learned:method=mamal", "method=mamal must be one of reptile, maml (did you mean 'maml'?)"),
])
def test_bad_model_strings_are_usage_errors_listing_valid_choices(text, fragment):
    with pytest.raises(UsageError) as err:
        parse_model(text)
    assert fragment in str(err.value)
    listed = "S0: float >= 0 = auto" if text.startswith("siren2") else "method: str in {reptile, maml} = reptile"
    assert ("siren2_filtered" in str(err.value)) if text == "nope" else (listed in str(err.value))
