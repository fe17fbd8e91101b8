"""The clustered sensitivity kinds in protocol files: declared by the shipped protocols for
their repeated continuous and binary analyses, and rejected with a clear message where they
cannot apply (docs/sensitivity.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mindtrial.protocols import ProtocolError, load_protocol, load_protocol_file

CLUSTERED = ("random_slopes", "therapy_group_random_effect", "therapy_group_gee")


def _with_sensitivity(tmp_path: Path, entry: dict[str, Any]) -> Path:
    data = load_protocol("mrocc-2025").model_dump(mode="json")
    data["analysis"]["sensitivity"] = [entry]
    file = tmp_path / "trial.yaml"
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    return file


@pytest.mark.parametrize("protocol_id", ["mrocc-2025", "more-ltot-2022", "more-mmt-2024"])
def test_shipped_protocols_declare_the_clustered_refits(protocol_id: str) -> None:
    protocol = load_protocol(protocol_id)
    declared = {s.kind: s for s in protocol.analysis.sensitivity if s.kind in CLUSTERED}
    assert set(declared) == set(CLUSTERED)
    repeated = {a.id: a.model for a in protocol.analysis.analyses if a.time is not None}
    lmm = {i for i, m in repeated.items() if m == "lmm_gaussian"}
    # every repeated continuous analysis named by the mixed-model kinds is an lmm
    for kind in ("random_slopes", "therapy_group_random_effect"):
        assert set(declared[kind].applies_to) <= lmm and declared[kind].applies_to
        assert declared[kind].reml is None  # REML, lme4's default
    models = {a.id: a.model for a in protocol.analysis.analyses}
    gee = declared["therapy_group_gee"].applies_to
    assert gee and {models[i] for i in gee} <= {"gee_logistic", "glm_logistic"}


def test_a_mixed_model_kind_on_a_gee_analysis_is_rejected(tmp_path: Path) -> None:
    entry = {"id": "slopes", "title": "Slopes", "kind": "random_slopes", "applies_to": ["primary"]}
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(_with_sensitivity(tmp_path, entry))
    message = str(info.value)
    assert "sensitivity 'slopes' (random_slopes) cannot refit analysis 'primary'" in message
    assert "a gee_logistic model; it applies to lmm_gaussian models" in message


def test_group_gee_cannot_refit_a_count_regression(tmp_path: Path) -> None:
    entry = {
        "id": "by_group",
        "title": "By group",
        "kind": "therapy_group_gee",
        "applies_to": ["adverse_events"],
    }
    with pytest.raises(ProtocolError, match="a glm_negative_binomial model"):
        load_protocol_file(_with_sensitivity(tmp_path, entry))


def test_reml_only_on_mixed_model_kinds(tmp_path: Path) -> None:
    entry = {
        "id": "by_group",
        "title": "By group",
        "kind": "therapy_group_gee",
        "applies_to": ["primary"],
        "reml": False,
    }
    with pytest.raises(ProtocolError, match="reml applies to the random_slopes and"):
        load_protocol_file(_with_sensitivity(tmp_path, entry))
    ok = {**entry, "kind": "therapy_group_random_effect", "applies_to": ["anxiety"]}
    loaded = load_protocol_file(_with_sensitivity(tmp_path, ok))
    assert loaded.analysis.sensitivity[0].reml is False
