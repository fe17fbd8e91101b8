"""The people randomized, as sex and baseline covariates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mindtrial.simulate.stages.design import TrialDesign
from mindtrial.simulate.stages.draws import ObjectArray, Values, choice, draw_number


@dataclass(frozen=True)
class Sample:
    sex: ObjectArray
    covariates: Mapping[str, Values]
    """The protocol's baseline covariates the scenario draws (others stay missing)."""


def draw_sample(design: TrialDesign, rng: np.random.Generator) -> Sample:
    """Sex, age and the scenario's covariates, in the protocol's covariate order."""
    sc = design.scenario
    n = design.n
    sex = choice(rng, sc.sex, n)
    covariates: dict[str, Values] = {}
    age = draw_number(sc.age, rng, n)
    for cov in design.protocol.baseline_covariates:
        if cov.name == "sex":
            covariates["sex"] = sex
        elif cov.name == "age":
            covariates["age"] = age
        elif cov.name in sc.covariates:
            spec = sc.covariates[cov.name]
            if spec.kind == "choice":
                covariates[cov.name] = choice(rng, spec.levels, n)
            elif spec.kind == "bernoulli":
                assert spec.p is not None
                covariates[cov.name] = rng.random(n) < spec.p
            else:
                covariates[cov.name] = draw_number(spec, rng, n)
    return Sample(sex=sex, covariates=covariates)
