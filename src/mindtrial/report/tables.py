"""The report's tables as pandas DataFrames of display text (also written as CSV).

Numbers are formatted by :mod:`mindtrial.report.printer`, so the HTML, the CSV files and the
terminal show the same text. The unformatted numbers are in ``results.json``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd
from scipy import stats

from mindtrial.analysis.results import AnalysisReport, AnalysisResult
from mindtrial.dataset import StudyDataset
from mindtrial.instruments import get_instrument
from mindtrial.outcomes import participant_frame, retention, scored_instruments
from mindtrial.protocols.schema import Protocol
from mindtrial.report.labels import level_label
from mindtrial.report.printer import MISSING, estimate_cells, fmt, fmt_estimate, fmt_p

# Optional demographic columns of participants.csv (format version 2) shown in Table 1 when
# the protocol does not list them itself.
_DEMOGRAPHICS = (("race", "Race"), ("ethnicity", "Ethnicity"), ("language", "Preferred language"))
_THRESHOLD = re.compile(r"P\s*<\s*(0?\.[0-9]+)", re.IGNORECASE)


def imbalance_threshold(protocol: Protocol) -> float | None:
    """The P threshold below which the plan treats a baseline difference as an imbalance
    (``analysis.imbalance_p`` when the schema has it, else "P < .10" in the missing-data
    rule), or ``None`` when the plan does not use one."""
    declared = getattr(protocol.analysis, "imbalance_p", None)
    if isinstance(declared, float):
        return declared
    found = _THRESHOLD.search(protocol.analysis.missing_data)
    return float(found.group(1)) if found else None


def imbalance_p_numeric(values: pd.Series, arms: pd.Series, codes: Sequence[str]) -> float | None:
    groups = [values[arms == c].astype("float64").dropna() for c in codes]
    groups = [g for g in groups if len(g) > 1]
    if len(groups) < 2:
        return None
    if len(groups) == 2:
        return float(stats.ttest_ind(groups[0], groups[1], equal_var=True).pvalue)
    return float(stats.f_oneway(*groups).pvalue)


def imbalance_p_categorical(
    values: pd.Series, arms: pd.Series, codes: Sequence[str]
) -> float | None:
    text = values.astype("string")
    keep = text.notna() & arms.isin(list(codes)).fillna(False)
    table = pd.crosstab(text[keep], arms[keep])
    table = table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return None
    return float(stats.chi2_contingency(table.to_numpy(), correction=False)[1])


def _arm_columns(report: AnalysisReport) -> list[tuple[str, str]]:
    return [(a.code, f"{a.label} (n = {a.n_randomized})") for a in report.arms]


# --------------------------------------------------------------------------- Table 1


def _numeric_rows(
    name: str, values: pd.Series, arms: pd.Series, report: AnalysisReport, digits: int = 1
) -> list[list[str]]:
    row = [name, "mean (SD)"]
    missing_row = [f"{name}, missing", "n"]
    any_missing = False
    for code, _ in _arm_columns(report):
        x = values[arms == code].astype("float64")
        observed = x.dropna()
        sd = float(observed.std(ddof=1)) if len(observed) > 1 else float("nan")
        row.append(
            f"{fmt(float(observed.mean()) if len(observed) else None, digits)} ({fmt(sd, digits)})"
        )
        n_missing = int(x.isna().sum())
        any_missing = any_missing or n_missing > 0
        missing_row.append(str(n_missing))
    all_values = values.astype("float64").dropna()
    sd_all = float(all_values.std(ddof=1)) if len(all_values) > 1 else float("nan")
    row.append(
        f"{fmt(float(all_values.mean()) if len(all_values) else None, digits)} ({fmt(sd_all, digits)})"
    )
    missing_row.append(str(int(values.isna().sum())))
    return [row, missing_row] if any_missing else [row]


def _count_rows(
    name: str, values: pd.Series, arms: pd.Series, levels: Sequence[str], report: AnalysisReport
) -> list[list[str]]:
    rows = []
    text = values.astype("string")
    extra = ["missing"] if bool(text.isna().any()) else []
    for level in [*levels, *extra]:
        row = [name, f"{level_label(level)}, n (%)"]
        groups = [text[arms == code] for code, _ in _arm_columns(report)] + [text]
        for group in groups:
            hit = group.isna() if level == "missing" else (group == level).fillna(False)
            n = int(hit.sum())
            row.append(f"{n} ({fmt(100 * n / len(group) if len(group) else None)}%)")
        rows.append(row)
    return rows


def baseline_table(
    dataset: StudyDataset, protocol: Protocol, report: AnalysisReport
) -> pd.DataFrame:
    """Table 1: baseline characteristics by arm (covariates, then the baseline values of the
    scored outcomes of the plan)."""
    people = participant_frame(dataset, protocol)
    extra = [c for c, _ in _DEMOGRAPHICS if c in dataset.participants.columns]
    missing_extra = [c for c in extra if c not in people.columns]
    if missing_extra:
        people = people.merge(
            dataset.participants[["participant_id", *missing_extra]].astype(
                {"participant_id": "string"}
            ),
            on="participant_id",
            how="left",
        )
    arms = people["arm"].astype("string")
    codes = [code for code, _ in _arm_columns(report)]
    threshold = imbalance_threshold(protocol)
    rows: list[list[str]] = []

    def add(block: list[list[str]], p: float | None) -> None:
        if threshold is not None:
            mark = "" if p is None or p >= threshold else f" (P < {threshold:g})"
            block[0].append(fmt_p(p) + mark)
            for other in block[1:]:
                other.append("")
        rows.extend(block)

    listed = {c.name for c in protocol.baseline_covariates}
    for cov in protocol.baseline_covariates:
        if cov.name not in people.columns:
            continue
        label = cov.label + (f" ({cov.unit})" if cov.unit else "")
        column = people[cov.name]
        if cov.type in ("number", "integer"):
            add(
                _numeric_rows(label, column, arms, report), imbalance_p_numeric(column, arms, codes)
            )
        elif cov.type == "boolean":
            as_text = column.astype("boolean").map(
                lambda v: pd.NA if pd.isna(v) else ("yes" if v else "no")
            )
            add(
                _count_rows(label, as_text, arms, ["yes"], report),
                imbalance_p_categorical(as_text, arms, codes),
            )
        else:
            add(
                _count_rows(label, column, arms, list(cov.levels), report),
                imbalance_p_categorical(column, arms, codes),
            )
    for name, label in _DEMOGRAPHICS:
        if name in listed or name not in people.columns or bool(people[name].isna().all()):
            continue
        column = people[name].astype("string")
        levels = sorted(str(v) for v in column.dropna().unique())
        add(
            _count_rows(label, column, arms, levels, report),
            imbalance_p_categorical(column, arms, codes),
        )
    scores = scored_instruments(dataset)
    seen: set[tuple[str, str]] = set()
    for spec in protocol.analysis.analyses:
        if "." not in spec.outcome or spec.model != "lmm_gaussian":
            continue
        instrument, score = spec.outcome.split(".", 1)
        picked = scores[(scores["instrument"] == instrument) & (scores["week"] == 0)]
        available = picked["score"].unique().tolist()
        if score not in available and len(available) == 1:
            score = str(available[0])
        if (instrument, score) in seen or score not in available:
            continue
        seen.add((instrument, score))
        values = people[["participant_id"]].merge(
            picked.loc[picked["score"] == score, ["participant_id", "value"]],
            on="participant_id",
            how="left",
        )["value"]
        try:
            name = get_instrument(instrument).name
        except KeyError:
            name = instrument
        add(
            _numeric_rows(f"Baseline {name} ({score.replace('_', ' ')})", values, arms, report),
            imbalance_p_numeric(values, arms, codes),
        )
    columns = ["Characteristic", "Statistic", *[c for _, c in _arm_columns(report)], "Overall"]
    if threshold is not None:
        columns.append(f"P (imbalance, flagged below {threshold:g})")
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- results


def _problem_text(result: AnalysisResult) -> str:
    if result.status == "error":
        return f"not estimable: {result.error}"
    return "; ".join(result.warnings)


def sensitivity_table(report: AnalysisReport) -> pd.DataFrame:
    """Each sensitivity analysis beside the main analysis it repeats."""
    rows = []
    main = {r.id: r for r in report.analyses if r.kind == "analysis"}
    for result in report.analyses:
        if result.kind != "sensitivity" or result.applies_to is None:
            continue
        base = main.get(result.applies_to)
        base_contrast = None if base is None or base.summary is None else base.summary.contrast
        contrast = None if result.summary is None else result.summary.contrast
        digits = 2 if result.model == "lmm_gaussian" else 1
        rows.append(
            [
                base.title if base is not None else result.applies_to,
                result.title.removesuffix(f": {base.title}") if base is not None else result.title,
                str(result.n_participants),
                MISSING if contrast is None else contrast.measure,
                MISSING if base_contrast is None else fmt_estimate(base_contrast, digits),
                *estimate_cells(contrast, digits),
                _problem_text(result),
            ]
        )
    columns = [
        "Analysis",
        "Sensitivity analysis",
        "Participants",
        "Measure",
        "Main analysis (95% CI)",
        "Sensitivity (95% CI)",
        "P",
        "Notes",
    ]
    return pd.DataFrame(rows, columns=columns)


def adverse_event_table(
    dataset: StudyDataset, protocol: Protocol, report: AnalysisReport
) -> pd.DataFrame:
    """Adverse events by arm: participants with any event, events by seriousness, relatedness
    and severity; the negative binomial rate ratio when the plan has one."""
    ae = dataset.adverse_events.merge(
        dataset.participants[["participant_id", "arm"]], on="participant_id", how="left"
    )
    kept = retention(dataset, protocol)
    people = dataset.participants[["participant_id", "arm"]].merge(kept, on="participant_id")
    arm_cols = _arm_columns(report)
    severities = sorted({str(s) for s in ae["severity"].dropna()})

    def per_arm(count: object) -> list[str]:
        cells = []
        for code, _ in arm_cols:
            cells.append(str(count(code)))  # type: ignore[operator]
        return cells

    rows: list[list[str]] = []
    rows.append(["Participants", *per_arm(lambda c: int((people["arm"] == c).sum()))])

    def with_any(code: str) -> str:
        n = int((people["arm"] == code).sum())
        k = int(ae.loc[ae["arm"] == code, "participant_id"].nunique())
        return f"{k} ({fmt(100 * k / n if n else None)}%)"

    rows.append(["Participants with ≥ 1 adverse event, n (%)", *per_arm(with_any)])
    rows.append(["Adverse events", *per_arm(lambda c: int((ae["arm"] == c).sum()))])
    rows.append(
        [
            "Serious adverse events",
            *per_arm(lambda c: int(((ae["arm"] == c) & ae["serious"]).sum())),
        ]
    )
    rows.append(
        [
            "Related to the intervention",
            *per_arm(lambda c: int(((ae["arm"] == c) & ae["related"]).sum())),
        ]
    )
    for severity in severities:
        rows.append(
            [
                f"Severity: {severity}",
                *per_arm(
                    lambda c, s=severity: int(((ae["arm"] == c) & (ae["severity"] == s)).sum())
                ),
            ]
        )
    for result in report.analyses:
        if result.kind != "analysis" or result.outcome_kind != "event_count":
            continue
        summary = result.summary
        if summary is not None:
            rows.append(
                [
                    "Events per 100 participant-weeks (model-based, 95% CI)",
                    *[
                        next(
                            (fmt_estimate(a, 2) for a in summary.arms if a.arm == code),
                            MISSING,
                        )
                        for code, _ in arm_cols
                    ],
                ]
            )
        contrast = None if summary is None else summary.contrast
        text = (
            f"not estimable: {result.error}"
            if contrast is None
            else f"{fmt_estimate(contrast, 2)}, P = {fmt_p(contrast.p_value)}"
        )
        label = "Rate ratio, negative binomial" + (
            f" ({contrast.label})" if contrast is not None else ""
        )
        rows.append([label, text, *[""] * (len(arm_cols) - 1)])
    return pd.DataFrame(rows, columns=["", *[label for _, label in arm_cols]])
