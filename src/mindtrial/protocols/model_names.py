"""The names of the models an analysis can declare: ``<estimator>_<family>``.

The estimator is ``gee`` (generalized estimating equations), ``glm`` (a regression without
clustering), ``lmm`` (linear mixed model) or ``cox``; the family is the outcome's model
(``logistic`` for a binary outcome, ``poisson`` or ``negative_binomial`` for counts,
``gaussian`` for a continuous one, ``ph``, proportional hazards, for a time to an event).

Protocol files written before the names had one pattern keep loading: :data:`MODEL_ALIASES`
maps each earlier name to its name today. ``results.json`` keeps the earlier names in its
``model`` field and in its messages (:func:`results_model_name`), so a trial analysed again
gives the same document, byte for byte (``docs/outcomes.md``, "Model names").
"""

from __future__ import annotations

from typing import Final, Literal

ModelName = Literal[
    "gee_logistic",
    "gee_poisson",
    "glm_logistic",
    "glm_negative_binomial",
    "lmm_gaussian",
    "cox_ph",
]

# Earlier names, still accepted in protocol files.
MODEL_ALIASES: Final[dict[str, ModelName]] = {
    "poisson_gee": "gee_poisson",
    "logistic": "glm_logistic",
    "negative_binomial": "glm_negative_binomial",
    "lmm": "lmm_gaussian",
    "cox": "cox_ph",
}

_RESULTS_NAMES: Final[dict[str, str]] = {new: old for old, new in MODEL_ALIASES.items()}


def canonical_model_name(name: object) -> object:
    """The name today of a model name read from a protocol file (others pass unchanged, for
    the schema to reject)."""
    if isinstance(name, str):
        return MODEL_ALIASES.get(name, name)
    return name


def results_model_name(model: str) -> str:
    """The name ``results.json`` gives ``model`` (its earlier name where it had one)."""
    return _RESULTS_NAMES.get(model, model)
