"""Format-2 records of a simulated trial: EMA prompts, medication lists, observed dosing and
the days-of-use calibration. Pure functions of arrays; the engine owns the random streams."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from mindtrial.instruments import mme
from mindtrial.instruments.schema import Instrument
from mindtrial.simulate.numerics import FloatArray, IntArray, expit, logit
from mindtrial.simulate.scenario import (
    EmaSpec,
    EventSpec,
    MedicationSpec,
    ObservedDosingSpec,
    ScenarioError,
)


@dataclass(frozen=True)
class People:
    """What the record builders need to know about the randomized participants."""

    ids: np.ndarray  # type: ignore[type-arg]
    arm_index: IntArray
    arms: tuple[str, ...]
    randomized_day: IntArray
    """Days from the recruitment start to randomization."""
    last_week: IntArray
    start: date


# --------------------------------------------------------------------------- EMA


def ema_prompts(
    people: People,
    spec: EmaSpec,
    instruments: list[tuple[Instrument, int]],
    weeks: list[int],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Random prompts on ``spec.days_per_burst`` days of each EMA week.

    ``instruments`` are the protocol's EMA instruments with their prompts per day. The day
    window is cut into as many equal blocks as prompts a day and one prompt falls at a
    uniform time in each block (stratified random prompts, never two at the same time).
    A week ``w`` spans days 7(w - 1) … 7w - 1 after randomization (baseline week 0 is the
    week before it).
    """
    n = people.ids.size
    prompts = max(p for _, p in instruments)
    items = [(inst, item) for inst, _ in instruments for item in inst.items]
    answer_p = expit(logit(spec.response_rate) + spec.response_person_sd * rng.standard_normal(n))
    person_z = {item.id: rng.standard_normal(n) for _, item in items}
    window = (spec.last_hour - spec.first_hour) * 3600
    block = window / prompts
    chunks: list[pd.DataFrame] = []
    offset = np.timedelta64(round(spec.utc_offset_hours * 3600), "s")
    origin = np.datetime64(people.start.isoformat(), "s")
    for week in weeks:
        pidx = np.flatnonzero(people.last_week >= week)
        m = pidx.size
        if m == 0:
            continue
        per_person = spec.days_per_burst * prompts
        day = np.tile(np.repeat(np.arange(spec.days_per_burst), prompts), m)
        slot = np.tile(np.arange(prompts), m * spec.days_per_burst)
        who = np.repeat(pidx, per_person)
        seconds = spec.first_hour * 3600 + (slot + rng.random(who.size)) * block
        local_day = people.randomized_day[who] + 7 * (week - 1) + day
        local = (
            origin
            + local_day.astype("timedelta64[D]").astype("timedelta64[s]")
            + np.floor(seconds).astype("timedelta64[s]")
        )
        utc = pd.to_datetime(local - offset).tz_localize("UTC")
        answered = rng.random(who.size) < answer_p[who]
        frame: dict[str, object] = {
            "participant_id": pd.array(people.ids[who], dtype="string"),
            "week": np.full(who.size, week, dtype=np.int64),
            "prompted_at": pd.Series(utc, dtype="datetime64[ns, UTC]").to_numpy(),
            "answered": answered,
        }
        for _, item in items:
            lo, hi = float(item.min or 0), float(item.max or 10)
            item_spec = spec.items.get(item.id)
            if item_spec is None:
                mean = lo + 0.4 * (hi - lo) + 0.15 * (hi - lo) * person_z[item.id][who]
                sd = 0.1 * (hi - lo)
            else:
                base = np.array([item_spec.baseline_mean[a] for a in people.arms])
                change = np.array([item_spec.change[a] for a in people.arms])
                arm = people.arm_index[who]
                mean = (
                    base[arm]
                    + change[arm] * min(1.0, week / item_spec.tau)
                    + item_spec.intercept_sd * person_z[item.id][who]
                )
                sd = item_spec.residual_sd
            value = np.clip(np.round(mean + sd * rng.standard_normal(who.size)), lo, hi)
            frame[item.id] = np.where(answered, value, np.nan)
        chunks.append(pd.DataFrame(frame))
    if not chunks:
        return pd.DataFrame()
    out = pd.concat(chunks, ignore_index=True)
    out["prompted_at"] = out["prompted_at"].astype("datetime64[ns, UTC]")
    return out.sort_values(["participant_id", "prompted_at"], kind="mergesort").reset_index(
        drop=True
    )


# --------------------------------------------------------------------------- medications


def _rounded(dose: FloatArray, step: float) -> FloatArray:
    return np.maximum(step, np.round(dose / step) * step)


_STEP = 2.5
"""Doses are rounded to 2.5 units (mg/day; mcg/hr for the fentanyl patch)."""


def opioid_lists(
    people: People,
    spec: MedicationSpec,
    baseline_mme: FloatArray,
    treatment_weeks: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, FloatArray]:
    """The medication list at each of ``spec.weeks`` and each person's baseline MME (the MME
    calculator's total of the rounded baseline list)."""
    n = people.ids.size
    drugs = list(spec.opioids)
    weights = np.array([spec.opioids[d] for d in drugs], dtype=np.float64)
    main = rng.choice(len(drugs), size=n, p=weights / weights.sum())
    has_second = (rng.random(n) < spec.second_opioid) & (len(drugs) > 1)
    second = np.full(n, -1, dtype=np.int64)
    for k in range(len(drugs)):
        rows = np.flatnonzero(has_second & (main == k))
        if rows.size == 0:
            continue
        w = weights.copy()
        w[k] = 0.0
        second[rows] = rng.choice(len(drugs), size=rows.size, p=w / w.sum())
    share_main = np.where(second >= 0, 0.7, 1.0)
    factors = np.array([mme.conversion_factor(d, 1.0) for d in drugs], dtype=np.float64)
    if "methadone" in drugs:  # a tiered (2016) factor would depend on dose; 2022 is flat
        factors[drugs.index("methadone")] = mme.conversion_factor("methadone", 30.0)
    dose_main = _rounded(baseline_mme * share_main / factors[main], _STEP)
    dose_second = np.where(
        second >= 0,
        _rounded(baseline_mme * (1 - share_main) / factors[np.maximum(second, 0)], _STEP),
        0.0,
    )
    change = np.array([spec.change_percent[a] for a in people.arms])[people.arm_index]
    person = rng.standard_normal(n) * spec.person_sd
    rows_p: list[IntArray] = []
    rows_w: list[IntArray] = []
    rows_d: list[IntArray] = []
    rows_x: list[FloatArray] = []
    for week in spec.weeks:
        pidx = np.flatnonzero(people.last_week >= week)
        frac = min(1.0, week / treatment_weeks)
        multiplier = np.exp(np.log1p(change[pidx] / 100.0) * frac + person[pidx] * frac)
        for drug_idx, dose, who in (
            (main[pidx], dose_main[pidx], pidx),
            (second[pidx], dose_second[pidx], pidx),
        ):
            keep = drug_idx >= 0
            scaled = dose[keep] if week == 0 else _rounded(dose[keep] * multiplier[keep], _STEP)
            rows_p.append(who[keep])
            rows_w.append(np.full(int(keep.sum()), week, dtype=np.int64))
            rows_d.append(drug_idx[keep])
            rows_x.append(scaled)
    p = np.concatenate(rows_p)
    order = np.lexsort((np.concatenate(rows_d), np.concatenate(rows_w), p))
    names = np.array(drugs, dtype=object)
    frame = pd.DataFrame(
        {
            "participant_id": pd.array(people.ids[p[order]], dtype="string"),
            "week": np.concatenate(rows_w)[order],
            "drug": pd.array(names[np.concatenate(rows_d)[order]], dtype="string"),
            "daily_dose": np.concatenate(rows_x)[order],
            "days_scheduled": pd.array([pd.NA] * order.size, dtype="Int64"),
            "days_taken": pd.array([pd.NA] * order.size, dtype="Int64"),
        }
    )
    total = dose_main * factors[main] + np.where(
        second >= 0, dose_second * factors[np.maximum(second, 0)], 0.0
    )
    return frame, total


def observed_dosing(
    people: People,
    spec: ObservedDosingSpec,
    dose: FloatArray,
    adherence: FloatArray,
    in_treatment_until: IntArray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per participant and week 1 … ``in_treatment_until`` of the treatment drug:
    ``days_per_week`` doses scheduled, Binomial(scheduled, adherence) taken."""
    counts = np.maximum(in_treatment_until, 0)
    who = np.repeat(np.arange(people.ids.size), counts)
    week = np.concatenate([np.arange(1, c + 1) for c in counts]) if who.size else np.zeros(0)
    taken = rng.binomial(spec.days_per_week, adherence[who])
    return pd.DataFrame(
        {
            "participant_id": pd.array(people.ids[who], dtype="string"),
            "week": week.astype(np.int64),
            "drug": pd.array([spec.drug] * who.size, dtype="string"),
            "daily_dose": dose[who].astype(np.float64),
            "days_scheduled": pd.array(np.full(who.size, spec.days_per_week), dtype="Int64"),
            "days_taken": pd.array(taken, dtype="Int64"),
        }
    )


# --------------------------------------------------------------------------- days of use


def use_week_rate(
    return_hazard: float, use_after_return: float, dropout_hazard: float, weeks: int
) -> float:
    """Expected share of followed weeks 1 … ``weeks`` that are use weeks.

    First use week S is geometric (weekly hazard ``return_hazard``); a week after S is a use
    week with ``use_after_return``; a participant is followed in week w while treatment
    dropout (weekly hazard ``dropout_hazard``) has not happened by w.
    """
    w = np.arange(1, weeks + 1, dtype=np.float64)
    not_yet = (1 - return_hazard) ** (w - 1)
    use = not_yet * return_hazard + (1 - not_yet) * use_after_return
    followed = (1 - dropout_hazard) ** w
    return float((followed * use).sum() / followed.sum())


def days_per_use_week(spec: EventSpec, arms: tuple[str, ...], weeks: int) -> dict[str, float]:
    """Each arm's mean days of use in a use week, so that mean days per followed week relative
    to the reference arm (ratio 1) is ``spec.days_ratio[arm]`` (all arms ``spec.days_per_use_week``
    when no ratio is given)."""
    if not spec.days_ratio:
        return dict.fromkeys(arms, spec.days_per_use_week)
    references = [a for a in arms if spec.days_ratio[a] == 1.0]
    if not references:
        raise ScenarioError("events.days_ratio: one arm must be the reference (ratio 1)")

    def rate(arm: str) -> float:
        h = 1 - (1 - spec.return_hazard) ** spec.return_hr[arm]
        d = 1 - (1 - spec.dropout_hazard) ** spec.dropout_hr[arm]
        return use_week_rate(h, spec.use_after_return, d, weeks)

    reference = rate(references[0])
    out = {}
    for arm in arms:
        m = spec.days_per_use_week * spec.days_ratio[arm] * reference / rate(arm)
        if not 1 <= m <= 7:
            raise ScenarioError(
                f"events.days_ratio.{arm}: needs {m:.2f} days of use per use week, outside "
                "1..7; change days_per_use_week or use_after_return"
            )
        out[arm] = m
    return out
