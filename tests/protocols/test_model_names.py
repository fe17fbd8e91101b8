"""Model names follow ``<estimator>_<family>``; protocol files written with the earlier names
load as the same protocol, and results.json keeps writing the earlier names."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from mindtrial.analysis.results import AnalysisResult
from mindtrial.analysis.results.serialize import to_json
from mindtrial.protocols import load_protocol, protocol_from_text, shipped_protocol_ids
from mindtrial.protocols.loader import ProtocolError
from mindtrial.protocols.schema import AnalysisSpec

# The names protocol files used before the pattern, written out here as they stood in the
# shipped files and docs/sensitivity.md (not read from the code under test).
EARLIER = {
    "gee_poisson": "poisson_gee",
    "glm_logistic": "logistic",
    "glm_negative_binomial": "negative_binomial",
    "lmm_gaussian": "lmm",
    "cox_ph": "cox",
}


def _shipped_text(protocol_id: str) -> str:
    data = resources.files("mindtrial.protocols").joinpath("data", f"{protocol_id}.yaml")
    return data.read_text(encoding="utf-8")


def _with_earlier_names(text: str) -> str:
    def earlier(match: re.Match[str]) -> str:
        return match.group(1) + EARLIER.get(match.group(2), match.group(2))

    return re.sub(r"(?m)^(\s+model: )(\w+)$", earlier, text)


@pytest.mark.parametrize("protocol_id", shipped_protocol_ids())
def test_a_protocol_written_with_the_earlier_names_is_the_same_protocol(protocol_id: str) -> None:
    text = _shipped_text(protocol_id)
    old_text = _with_earlier_names(text)
    assert old_text != text  # the file really spells earlier names
    old = protocol_from_text(old_text, source=f"{protocol_id} (earlier names)")
    assert old == load_protocol(protocol_id)


def test_every_shipped_name_has_the_pattern() -> None:
    names = {
        a.model for pid in shipped_protocol_ids() for a in load_protocol(pid).analysis.analyses
    }
    assert names == {
        "gee_logistic",
        "glm_logistic",
        "glm_negative_binomial",
        "lmm_gaussian",
        "cox_ph",
    }


@pytest.mark.parametrize(("name", "earlier"), sorted(EARLIER.items()))
def test_each_earlier_name_loads_as_its_name_today(name: str, earlier: str) -> None:
    spec = load_protocol("mrocc-2025").analysis.analyses[0].model_dump()
    assert AnalysisSpec.model_validate({**spec, "model": earlier}) == AnalysisSpec.model_validate(
        {**spec, "model": name}
    )


def test_an_unknown_model_name_is_still_an_error() -> None:
    text = _shipped_text("mrocc-2025").replace("model: gee_logistic", "model: gee_logit", 1)
    with pytest.raises(ProtocolError, match="model"):
        protocol_from_text(text, source="typo")


@pytest.mark.parametrize(
    ("model", "written"),
    [
        ("gee_logistic", "gee_logistic"),
        ("gee_poisson", "poisson_gee"),
        ("glm_logistic", "logistic"),
        ("glm_negative_binomial", "negative_binomial"),
        ("lmm_gaussian", "lmm"),
        ("cox_ph", "cox"),
    ],
)
def test_results_json_keeps_the_earlier_model_names(model: str, written: str) -> None:
    result = AnalysisResult(
        id="a",
        title="A",
        kind="analysis",
        model=model,
        outcome="y",
        formula=None,
        multiplicity_family=None,
        status="error",
        n_participants=0,
        n_observations=0,
        converged=None,
        warnings=(),
        error="x",
    )
    assert to_json(result)["model"] == written
