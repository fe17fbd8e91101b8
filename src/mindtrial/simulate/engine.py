"""The generative model: one simulated trial as a :class:`~mindtrial.dataset.StudyDataset`.

See ``docs/simulation.md`` for the model and how each knob is calibrated. Everything is
vectorised over participants; loops run over weeks, instruments and substances only.
Each component draws from its own stream of one ``SeedSequence(seed)``, so changing an
outcome knob leaves the sample, the allocation and the attrition of a seed unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from mindtrial.dataset import Column, StudyDataset, StudyMeta, follow_up_week
from mindtrial.dataset.schema import (
    ADVERSE_EVENTS,
    ATTENDANCE,
    EMA_COLUMNS,
    FIXED_COLUMNS,
    MEDICATION_COLUMNS,
    MEDICATIONS,
    RESPONSES,
    SCREENING,
    TOXICOLOGY,
    empty_table,
)
from mindtrial.design.randomization import generate_allocation_list
from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.schema import Instrument, ItemType
from mindtrial.protocols import Protocol, load_protocol
from mindtrial.simulate.format2_records import (
    People,
    days_per_use_week,
    ema_prompts,
    observed_dosing,
    opioid_lists,
)
from mindtrial.simulate.numerics import (
    BoolArray,
    FloatArray,
    IntArray,
    expit,
    logit,
    solve_intercept,
    survival_week,
    truncated_normal_parameters,
)
from mindtrial.simulate.period_calibration import period_intercept
from mindtrial.simulate.scenario import (
    CovariateSpec,
    Scenario,
    ScenarioError,
    SubstanceSpec,
    check_scenario,
    default_scenario,
)
from mindtrial.simulate.score_trajectories import Clustering, draw_latent, score_target

_STREAMS = (
    "sample",
    "allocation",
    "funnel",
    "retention",
    "attendance",
    "collection",
    "trajectories",
    "substances",
    "toxicology",
    "misuse_model",
    "events",
    "adverse_events",
    "generic",
    # Added with format version 2 (appended, so the streams above keep their draws).
    "demographics",
    "days",
    "ema",
    "medications",
    # Added with the therapy-group effects (appended: earlier streams keep their draws).
    "groups",
)
# dmi_interview: the Drug Misuse Index interview belongs to the misuse model (helper "sim").
_SKIPPED_INSTRUMENTS = frozenset({"adverse_event", "dmi_interview"})


@dataclass
class _Responses:
    """Answers collected in chunks, assembled into the long ``responses`` frame at the end."""

    pidx: list[IntArray] = field(default_factory=list)
    week: list[IntArray] = field(default_factory=list)
    instrument: list[IntArray] = field(default_factory=list)
    item: list[IntArray] = field(default_factory=list)
    value: list[FloatArray] = field(default_factory=list)
    names: dict[str, int] = field(default_factory=dict)
    item_names: dict[str, int] = field(default_factory=dict)

    def add(
        self, pidx: IntArray, weeks: IntArray, instrument: str, items: list[str], values: FloatArray
    ) -> None:
        m, k = values.shape
        if m == 0:
            return
        code = self.names.setdefault(instrument, len(self.names))
        codes = [self.item_names.setdefault(i, len(self.item_names)) for i in items]
        self.pidx.append(np.repeat(pidx, k))
        self.week.append(np.repeat(weeks, k))
        self.instrument.append(np.full(m * k, code, dtype=np.int64))
        self.item.append(np.tile(np.asarray(codes, dtype=np.int64), m))
        self.value.append(values.astype(np.float64).ravel())

    def frame(self, ids: np.ndarray) -> pd.DataFrame:  # type: ignore[type-arg]
        if not self.pidx:
            return pd.DataFrame(
                {
                    "participant_id": pd.array([], dtype="string"),
                    "week": np.array([], dtype=np.int64),
                    "instrument": pd.array([], dtype="string"),
                    "item": pd.array([], dtype="string"),
                    "value": np.array([], dtype=np.float64),
                }
            )
        pidx = np.concatenate(self.pidx)
        week = np.concatenate(self.week)
        inst = np.concatenate(self.instrument)
        item = np.concatenate(self.item)
        order = np.lexsort((item, inst, week, pidx))
        inst_names = np.array(list(self.names), dtype=object)
        item_names = np.array(list(self.item_names), dtype=object)
        return pd.DataFrame(
            {
                "participant_id": pd.array(ids[pidx[order]], dtype="string"),
                "week": week[order].astype(np.int64),
                "instrument": pd.array(inst_names[inst[order]], dtype="string"),
                "item": pd.array(item_names[item[order]], dtype="string"),
                "value": np.concatenate(self.value)[order],
            }
        )


def _conform(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """Order ``frame``'s columns as the dataset schema does, adding absent optional ones."""
    out = {}
    for column in FIXED_COLUMNS[file]:
        if column.name in frame.columns:
            out[column.name] = frame[column.name].reset_index(drop=True)
        elif column.required:
            raise AssertionError(f"simulator bug: {file} lacks column {column.name}")
        else:
            out[column.name] = pd.Series([pd.NA] * len(frame), dtype=column.dtype)
    return pd.DataFrame(out)


def _ema_columns(items: tuple[str, ...]) -> list[Column]:
    return [Column(item, "number", nullable=True) for item in dict.fromkeys(items)]


def _assessment_weeks(protocol: Protocol, instrument: str) -> list[int]:
    weeks: set[int] = set()
    for a in protocol.assessments:
        if a.instrument == instrument and a.mode != "staff":
            weeks.update(a.weeks)
            weeks.update(follow_up_week(m) for m in a.months)
    return sorted(weeks)


def _final_week(protocol: Protocol) -> int:
    weeks = [protocol.weeks]
    for a in protocol.assessments:
        weeks += list(a.weeks) + [follow_up_week(m) for m in a.months]
    weeks += [follow_up_week(m) for m in protocol.follow_up_months]
    return max(weeks)


def _choice(rng: np.random.Generator, table: dict[str, float], size: int) -> np.ndarray:  # type: ignore[type-arg]
    keys = list(table)
    p = np.array([table[k] for k in keys], dtype=np.float64)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=size, p=p / p.sum())]


def _largest_remainder(total: int, shares: dict[str, float]) -> dict[str, int]:
    keys = list(shares)
    w = np.array([shares[k] for k in keys], dtype=np.float64)
    raw = total * w / w.sum()
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: total - counts.sum()]:
        counts[i] += 1
    return dict(zip(keys, (int(c) for c in counts), strict=True))


class _Trial:
    def __init__(self, protocol: Protocol, scenario: Scenario, n: int, seed: int) -> None:
        self.protocol = protocol
        self.scenario = scenario
        self.n = n
        self.seed = seed
        children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
        self.rng = {
            name: np.random.default_rng(s) for name, s in zip(_STREAMS, children, strict=True)
        }
        self.arms = protocol.arm_ids
        self.final_week = _final_week(protocol)
        self.responses = _Responses()
        self.intercepts: dict[str, FloatArray] = {}
        self.background_users: dict[str, BoolArray] = {}
        self.methadone_p: FloatArray | None = None
        self.events_use: BoolArray | None = None
        self.use_days: IntArray | None = None
        self.reported: BoolArray | None = None
        self.treatment_exit: IntArray | None = None
        self.use: dict[str, BoolArray] = {}

    # ------------------------------------------------------------------ people

    def sample(self) -> None:
        rng = self.rng["sample"]
        sc = self.scenario
        n = self.n
        self.sex = _choice(rng, sc.sex, n)
        self.covariates: dict[str, np.ndarray] = {}  # type: ignore[type-arg]
        age = self._draw_number(sc.age, rng, n)
        for cov in self.protocol.baseline_covariates:
            if cov.name == "sex":
                self.covariates["sex"] = self.sex
            elif cov.name == "age":
                self.covariates["age"] = age
            elif cov.name in sc.covariates:
                spec = sc.covariates[cov.name]
                if spec.kind == "choice":
                    self.covariates[cov.name] = _choice(rng, spec.levels, n)
                elif spec.kind == "bernoulli":
                    assert spec.p is not None
                    self.covariates[cov.name] = rng.random(n) < spec.p
                else:
                    self.covariates[cov.name] = self._draw_number(spec, rng, n)

    @staticmethod
    def _draw_number(spec: CovariateSpec, rng: np.random.Generator, n: int) -> FloatArray:
        if spec.kind == "discrete":
            keys = np.array(list(spec.values), dtype=np.float64)
            p = np.array(list(spec.values.values()), dtype=np.float64)
            return np.asarray(keys[rng.choice(keys.size, size=n, p=p / p.sum())], dtype=np.float64)
        assert spec.mean is not None and spec.sd is not None
        lo = -np.inf if spec.minimum is None else spec.minimum
        hi = np.inf if spec.maximum is None else spec.maximum
        try:
            mu, sigma = truncated_normal_parameters(spec.mean, spec.sd, lo, hi)
        except ValueError as exc:
            raise ScenarioError(f"covariate: {exc}") from None
        x = rng.normal(mu, sigma, n)
        bad = (x < lo) | (x > hi)
        while bad.any():  # truncation by redrawing
            x[bad] = rng.normal(mu, sigma, int(bad.sum()))
            bad = (x < lo) | (x > hi)
        if spec.round_to:
            x = np.clip(np.round(x / spec.round_to) * spec.round_to, lo, hi)
        return x

    def funnel_and_allocation(self) -> None:
        rng = self.rng["funnel"]
        sc = self.scenario
        n = self.n
        funnel = sc.funnel
        stages: list[str] = []
        reasons: list[str | None] = []
        if funnel is not None:
            scale = n / funnel.per_randomized
            excluded = round(funnel.excluded_after_consent * scale)
            incomplete = round(funnel.baseline_incomplete * scale)
            consented = n + excluded + incomplete
            referred = max(round(funnel.referred * scale), consented)
            early = _largest_remainder(
                referred - consented, {str(k): v for k, v in funnel.not_consented_stages.items()}
            )
            for stage, count in early.items():
                stages += [stage] * count
                if stage == "screened":
                    reasons += list(
                        _choice(rng, dict.fromkeys(funnel.screen_fail_reasons, 1.0), count)
                    )
                elif stage == "eligible":
                    reasons += ["declined consent"] * count
                else:
                    reasons += ["not reached or declined screening"] * count
            stages += ["consented"] * (excluded + incomplete)
            reasons += list(_choice(rng, dict.fromkeys(funnel.exclusion_reasons, 1.0), excluded))
            reasons += ["did not complete the baseline assessment"] * incomplete
        stages += ["randomized"] * n
        reasons += [None] * n
        total = len(stages)
        order = rng.permutation(total)
        span = (sc.recruitment_end - sc.recruitment_start).days
        offsets = np.sort(rng.integers(0, span + 1, total))
        self.referral_stage = np.array(stages, dtype=object)[order]
        self.referral_reason = np.array(reasons, dtype=object)[order]
        self.referral_date = np.array(
            [sc.recruitment_start + timedelta(days=int(d)) for d in offsets], dtype=object
        )
        randomized_slots = np.flatnonzero(self.referral_stage == "randomized")
        wait = rng.integers(14, 36, n)
        randomized_on = offsets[randomized_slots] + wait
        by_date = np.argsort(randomized_on, kind="stable")
        self.randomized_slot = randomized_slots[by_date]
        self.randomized_day = randomized_on[by_date]
        width = max(4, len(str(n)))
        self.ids = np.array([f"P{k + 1:0{width}d}" for k in range(n)], dtype=object)
        alloc = generate_allocation_list(
            arms=dict(self.protocol.randomization.ratio),
            n=n,
            block_sizes=list(self.protocol.randomization.block_sizes),
            seed=int(self.rng["allocation"].integers(0, 2**31 - 1)),
        )
        arm_pos = {a: i for i, a in enumerate(self.arms)}
        self.arm_index = np.array([arm_pos[e.arm] for e in alloc.entries], dtype=np.int64)
        if sc.arm_sizes is not None:  # fixed arm sizes (e.g. the published 129/121), shuffled
            counts = _largest_remainder(n, dict(sc.arm_sizes))
            fixed = np.repeat(np.arange(len(self.arms)), [counts[a] for a in self.arms])
            self.arm_index = self.rng["demographics"].permutation(fixed).astype(np.int64)
        self.cohort = np.array([f"C{k // sc.cohort_size + 1:03d}" for k in range(n)], dtype=object)
        self._therapy_groups()

    def _therapy_groups(self) -> None:
        """A therapy group is the participants of one cohort in one arm with group sessions."""
        grouped = np.array([self.protocol.arm(a).group_sessions for a in self.arms])
        self.grouped_arms = tuple(a for a, g in zip(self.arms, grouped, strict=True) if g)
        cohort_no = np.arange(self.n) // self.scenario.cohort_size
        key = cohort_no * len(self.arms) + self.arm_index
        has = grouped[self.arm_index]
        _, index = np.unique(np.where(has, key, -1), return_inverse=True)
        first = 1 if (~has).any() else 0  # -1 sorts first: participants without a group
        self.group_index = np.where(has, index - first, -1).astype(np.int64)
        self.n_groups = int(self.group_index.max()) + 1 if has.any() else 0

    def _group_draws(self) -> FloatArray:
        """One standard normal per therapy group (a fresh set for each outcome that asks)."""
        return self.rng["groups"].standard_normal(self.n_groups)

    def retention(self) -> None:
        rng = self.rng["retention"]
        u = rng.random(self.n)
        # The normal score of u: high = early dropout (what informative dropout links to).
        self.dropout_z = special.ndtri(np.clip(u, 1e-12, 1 - 1e-12))
        self.last_week = np.zeros(self.n, dtype=np.int64)
        for i, arm in enumerate(self.arms):
            mask = self.arm_index == i
            self.last_week[mask] = survival_week(
                u[mask], self.scenario.retention.survival[arm], self.final_week
            )
        self.reason = _choice(rng, self.scenario.retention.reasons, self.n)

    def active(self, week: int | IntArray) -> BoolArray:
        return np.asarray(self.last_week >= week)

    # ------------------------------------------------------------------ sessions

    def attendance(self) -> pd.DataFrame:
        rng = self.rng["attendance"]
        spec = self.scenario.attendance
        n_sessions = self.protocol.session.n_sessions
        grouped = np.array([self.protocol.arm(a).group_sessions for a in self.arms])
        means = np.array(
            [spec.mean[a] if self.protocol.arm(a).group_sessions else 0.0 for a in self.arms]
        )[self.arm_index]
        self.in_groups = grouped[self.arm_index]
        z = rng.standard_normal(self.n) * spec.person_sd
        p = np.where(
            means <= 0,
            0.0,
            np.where(
                means >= 1,
                1.0,
                expit(
                    np.log(np.clip(means, 1e-9, 1 - 1e-9) / (1 - np.clip(means, 1e-9, 1 - 1e-9)))
                    + z
                ),
            ),
        )
        weeks = np.arange(1, n_sessions + 1)
        attended = rng.random((self.n, n_sessions)) < p[:, None]
        if spec.continuation is not None:
            cont = spec.continuation
            for i, arm in enumerate(self.arms):
                choice = self.protocol.arm(arm).continuation_choice
                if choice is None:
                    continue
                prob = np.array([cont.probability.get(str(s), cont.default) for s in self.sex])
                stops = (self.arm_index == i) & (rng.random(self.n) >= prob)
                attended[np.ix_(stops, weeks > choice.after_week)] = False
        self.sessions_attended = attended.sum(axis=1)
        has_rows = (means > 0)[:, None] & (weeks[None, :] <= self.last_week[:, None])
        pi, wi = np.nonzero(has_rows)
        return pd.DataFrame(
            {
                "participant_id": pd.array(self.ids[pi], dtype="string"),
                "week": weeks[wi].astype(np.int64),
                "attended": attended[pi, wi].astype(bool),
            }
        )

    def survey_done(self) -> None:
        rng = self.rng["collection"]
        p = self.scenario.collection.survey_completion
        done = rng.random((self.n, self.final_week + 1)) < p
        done[:, 0] = True  # baseline is complete for everyone randomized
        weeks = np.arange(self.final_week + 1)
        self.done = done & (weeks[None, :] <= self.last_week[:, None])

    # ------------------------------------------------------------------ scores

    def trajectories(self) -> None:
        rng = self.rng["trajectories"]
        for key, spec in self.scenario.trajectories.items():
            target = score_target(key)
            if target.instrument not in self.instruments:
                continue
            weeks = _assessment_weeks(self.protocol, target.instrument)
            if not weeks:
                continue
            z = rng.standard_normal(self.n)
            self.intercepts[key] = z
            linked = self.scenario.retention.informative
            follows = linked is not None and linked.trajectory == key
            clustering = Clustering(
                group_index=self.group_index,
                group_z=self._group_draws() if spec.group_sd > 0 else np.zeros(self.n_groups),
                grouped_arms=self.grouped_arms,
                dropout_z=self.dropout_z if follows else None,
                dropout_correlation=linked.correlation if linked is not None and follows else 0.0,
            )
            latent = draw_latent(
                spec,
                key,
                arm_index=self.arm_index,
                arms=self.arms,
                weeks=weeks,
                last=float(max(weeks)),
                intercept_z=z,
                rng=rng,
                clustering=clustering,
            )
            for j, week in enumerate(weeks):
                pidx = np.flatnonzero(self.done[:, week])
                totals = target.totals(latent[pidx, j], rng.random(pidx.size))
                items = target.items_for(totals, rng)
                self._add(pidx, week, target.instrument, list(target.items), items)
            self.covered.setdefault(target.instrument, set()).update(target.items)

    def _add(
        self, pidx: IntArray, week: int, instrument: str, items: list[str], values: np.ndarray
    ) -> None:  # type: ignore[type-arg]
        self.responses.add(
            pidx,
            np.full(pidx.size, week, dtype=np.int64),
            instrument,
            items,
            np.asarray(values, dtype=np.float64),
        )

    def generic(self, instrument: Instrument, skip: set[str]) -> None:
        """Plausible answers for items no outcome model covers (no treatment effect)."""
        rng = self.rng["generic"]
        weeks = _assessment_weeks(self.protocol, instrument.id)
        items = [i for i in instrument.items if i.id not in skip]
        numeric = [
            i for i in items if i.type in (ItemType.INTEGER, ItemType.NUMBER, ItemType.BOOLEAN)
        ]
        if not numeric or not weeks:
            return
        z = rng.standard_normal(self.n)
        for week in weeks:
            pidx = np.flatnonzero(self.done[:, week])
            cols = []
            for item in numeric:
                noise = 0.8 * z[pidx] + 0.6 * rng.standard_normal(pidx.size)
                if item.type is ItemType.BOOLEAN:
                    cols.append((rng.random(pidx.size) < expit(noise - 1.0)).astype(np.float64))
                    continue
                lo, hi = float(item.min or 0), float(item.max or 0)
                span = min(hi - lo, 20.0)
                x = np.clip(lo + span * (0.4 + 0.2 * noise), lo, hi)
                cols.append(np.round(x) if item.type is ItemType.INTEGER else np.round(x, 2))
            self._add(pidx, week, instrument.id, [i.id for i in numeric], np.column_stack(cols))

    def home_practice(self, instrument: Instrument) -> None:
        rng = self.rng["generic"]
        weeks = _assessment_weeks(self.protocol, instrument.id)
        practising = np.array([self.protocol.arm(a).home_practice for a in self.arms])[
            self.arm_index
        ]
        p = expit(logit(self.scenario.home_practice_days) + rng.standard_normal(self.n))
        for week in weeks:
            pidx = np.flatnonzero(self.done[:, week] & practising)
            days = rng.binomial(7, p[pidx])
            formal = days * np.round(rng.lognormal(np.log(15), 0.5, pidx.size))
            informal = days * np.round(rng.lognormal(np.log(10), 0.6, pidx.size))
            values = np.column_stack([np.minimum(formal, 10080), np.minimum(informal, 10080), days])
            self._add(
                pidx,
                week,
                instrument.id,
                ["formal_minutes", "informal_minutes", "days_practised"],
                values,
            )

    # ------------------------------------------------------------------ substance use

    def substances(self) -> None:
        rng = self.rng["substances"]
        tox = self.protocol.toxicology
        if tox is None or not self.scenario.substances:
            return
        n_periods = self.protocol.weeks // tox.window_weeks
        col = self.scenario.collection
        outcome_periods = tuple(self.protocol.outcomes.primary_periods) or tuple(
            range(1, n_periods + 1)
        )
        for name, spec in self.scenario.substances.items():
            offsets, weights = self._offsets(spec)
            intercepts = []
            for arm in self.arms:
                survival = self.scenario.retention.survival[arm]
                # A group effect adds to the person effect's variance in grouped arms.
                grouped = arm in self.grouped_arms
                total_sd = float(np.hypot(spec.person_sd, spec.group_sd if grouped else 0.0))
                intercepts.append(
                    period_intercept(
                        target=spec.percent[arm] / 100.0,
                        person_sd=total_sd,
                        offsets=tuple(float(x) for x in offsets),
                        weights=tuple(float(x) for x in weights),
                        survival=tuple(sorted(survival.items())),
                        final_week=self.final_week,
                        window=tox.window_weeks,
                        periods=outcome_periods,
                        survey_completion=col.survey_completion,
                        test_completion=col.test_completion,
                        invalid_test=col.invalid_test,
                        report_sensitivity=spec.report_sensitivity,
                        test_sensitivity=spec.test_sensitivity,
                        surveys_required=self.protocol.outcomes.surveys_required_per_period,
                        tests_required=self.protocol.outcomes.tests_required_per_period,
                        has_item=name in tox.self_report_items,
                    )
                )
            z = rng.standard_normal(self.n)
            if spec.correlated_with and spec.correlated_with in self.intercepts:
                rho = spec.correlation
                z = rho * self.intercepts[spec.correlated_with] + np.sqrt(1 - rho**2) * z
            eta = np.array(intercepts)[self.arm_index] + spec.person_sd * z
            if spec.group_sd > 0:
                shared = self._group_draws()[np.maximum(self.group_index, 0)]
                eta = eta + spec.group_sd * np.where(self.group_index >= 0, shared, 0.0)
            for cov, beta in spec.covariate_log_odds.items():
                eta = eta + beta * self.covariates[cov].astype(np.float64)
            self.use[name] = rng.random((self.n, n_periods)) < expit(eta)[:, None]

    def _offsets(self, spec: SubstanceSpec) -> tuple[FloatArray, FloatArray]:
        offsets = np.zeros(1)
        weights = np.ones(1)
        for cov, beta in spec.covariate_log_odds.items():
            cspec = self.scenario.covariates.get(cov)
            if cspec is None or cspec.kind != "bernoulli" or cspec.p is None:
                raise ScenarioError(
                    f"covariate_log_odds.{cov}: only covariates drawn as bernoulli can shift use"
                )
            offsets = np.concatenate([offsets, offsets + beta])
            weights = np.concatenate([weights * (1 - cspec.p), weights * cspec.p])
        return offsets, weights

    def self_report(self) -> None:
        """Weekly past-7-day substance use answers."""
        instrument_id = "substance_use_7d"
        if instrument_id not in self.instruments:
            return
        rng = self.rng["substances"]
        tox = self.protocol.toxicology
        instrument = get_instrument(instrument_id)
        items = [i.id for i in instrument.items]
        window = tox.window_weeks if tox else 1
        bg = self.scenario.background
        users = {k: rng.random(self.n) < p for k, p in bg.users.items()}
        self.background_users = users
        item_of = dict(tox.self_report_items) if tox else {}
        for week in _assessment_weeks(self.protocol, instrument_id):
            pidx = np.flatnonzero(self.done[:, week])
            values = np.zeros((pidx.size, len(items)))
            for j, item in enumerate(items):
                if item in users:
                    values[:, j] = users[item][pidx] & (rng.random(pidx.size) < bg.report_if_user)
            for name, used in self.use.items():
                mapped = item_of.get(name)
                if mapped is None or mapped not in items or week < 1:
                    continue
                period = min((week - 1) // window, used.shape[1] - 1)
                spec = self.scenario.substances[name]
                values[:, items.index(mapped)] = used[pidx, period] & (
                    rng.random(pidx.size) < spec.report_sensitivity
                )
            if self.events_use is not None:
                for item in item_of.values():
                    if item in items and week >= 1:
                        assert self.reported is not None
                        values[:, items.index(item)] = (
                            self.events_use[pidx, week] & self.reported[pidx, week]
                        )
            self._add(pidx, week, instrument_id, items, values)

    def drug_use_days(self, instrument: Instrument) -> None:
        """Self-reported days of any drug use in each week (0 when the use is not reported)."""
        weeks = _assessment_weeks(self.protocol, instrument.id)
        item = instrument.item_ids[0]
        for week in weeks:
            pidx = np.flatnonzero(self.done[:, week])
            if self.use_days is None or self.reported is None:
                days = np.zeros(pidx.size)
            else:
                days = np.where(self.reported[pidx, week], self.use_days[pidx, week], 0)
            self._add(
                pidx, week, instrument.id, [item], np.asarray(days, dtype=np.float64)[:, None]
            )

    def people(self) -> People:
        return People(
            ids=self.ids,
            arm_index=self.arm_index,
            arms=tuple(self.arms),
            randomized_day=self.randomized_day,
            last_week=self.last_week,
            start=self.scenario.recruitment_start,
        )

    def ema(self) -> pd.DataFrame:
        """Timestamped EMA prompts (ema.csv) for the protocol's ``mode: ema`` assessments."""
        items = tuple(
            item.id
            for a in self.protocol.assessments
            if a.mode == "ema"
            for item in get_instrument(a.instrument).items
        )
        columns = list(EMA_COLUMNS) + _ema_columns(items)
        spec = self.scenario.ema
        assessments = [a for a in self.protocol.assessments if a.mode == "ema"]
        if spec is None or not assessments:
            return empty_table(columns)
        instruments = [(get_instrument(a.instrument), a.prompts_per_day or 1) for a in assessments]
        weeks = sorted(
            {w for a in assessments for w in _assessment_weeks(self.protocol, a.instrument)}
        )
        frame = ema_prompts(self.people(), spec, instruments, weeks, self.rng["ema"])
        if frame.empty:
            return empty_table(columns)
        return frame[[c.name for c in columns]]

    def medications(self) -> pd.DataFrame:
        """The medication list (MME over time) and the observed dosing record."""
        rng = self.rng["medications"]
        frames = []
        spec = self.scenario.medications
        if spec is not None:
            baseline = np.asarray(self.covariates[spec.baseline_covariate], dtype=np.float64)
            frame, total = opioid_lists(self.people(), spec, baseline, self.protocol.weeks, rng)
            self.covariates[spec.baseline_covariate] = np.round(total, 2)
            frames.append(frame)
        dosing = self.scenario.observed_dosing
        if dosing is not None and self.methadone_p is not None:
            dose = np.asarray(self.covariates[dosing.dose_covariate], dtype=np.float64)
            frames.append(
                observed_dosing(self.people(), dosing, dose, self.methadone_p, self.last_week, rng)
            )
        frames = [f for f in frames if not f.empty]
        if not frames:
            return empty_table(MEDICATION_COLUMNS)
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["participant_id", "week", "drug"], kind="mergesort")

    # ------------------------------------------------------------------ toxicology

    def toxicology(self) -> pd.DataFrame:
        rng = self.rng["toxicology"]
        tox = self.protocol.toxicology
        cols = ["participant_id", "week", "analyte", "result"]
        if tox is None:
            return pd.DataFrame(
                {
                    c: pd.array([], dtype="string") if c != "week" else np.array([], dtype=np.int64)
                    for c in cols
                }
            )
        panel = list(tox.panel)
        col = self.scenario.collection
        # Which weeks are tested: one random week per window (M-ROCC, MMT), or the
        # assessment weeks (MORE primary care, where misuse is judged at assessments).
        if self.scenario.misuse is not None:
            weeks_per_person = [
                np.full(self.n, w, dtype=np.int64) for w in _assessment_weeks(self.protocol, "comm")
            ]
        else:
            first = 1
            weeks_per_person = []
            while first + tox.window_weeks - 1 <= self.protocol.weeks:
                weeks_per_person.append(first + rng.integers(0, tox.window_weeks, self.n))
                first += tox.window_weeks
        rows_p: list[IntArray] = []
        rows_w: list[IntArray] = []
        rows_r: list[np.ndarray] = []  # type: ignore[type-arg]
        in_group = {a for analytes in tox.substances.values() for a in analytes}
        bg = self.scenario.background
        users = self.background_users or {k: rng.random(self.n) < p for k, p in bg.users.items()}
        background_analyte = {a: u for k, u in users.items() for a in bg.analyte_of.get(k, [])}
        for period, test_week in enumerate(weeks_per_person):
            taken = (test_week <= self.last_week) & (rng.random(self.n) < col.test_completion)
            pidx = np.flatnonzero(taken)
            m = pidx.size
            week = test_week[pidx]
            positive = np.zeros((m, len(panel)), dtype=np.bool_)
            for j, analyte in enumerate(panel):
                if analyte in in_group:
                    continue
                if analyte in background_analyte:
                    p = np.where(
                        background_analyte[analyte][pidx],
                        bg.positive_if_user,
                        bg.positive_otherwise,
                    )
                elif analyte == "buprenorphine" and self.protocol.medication == "buprenorphine":
                    p = np.full(m, 0.95)
                elif analyte == "methadone" and self.protocol.medication == "methadone":
                    p = self.methadone_p[pidx] if self.methadone_p is not None else np.full(m, 0.9)
                else:
                    p = np.full(m, bg.positive_otherwise)
                positive[:, j] = rng.random(m) < p
            for name, used in self.use.items():
                spec = self.scenario.substances[name]
                seen = used[pidx, min(period, used.shape[1] - 1)] & (
                    rng.random(m) < spec.test_sensitivity
                )
                self._mark(
                    positive,
                    panel,
                    seen,
                    spec.analytes or dict.fromkeys(tox.substances[name], 1.0),
                    tox.substances[name],
                    spec.co_positive,
                    rng,
                )
            if self.scenario.misuse is not None:
                misusing = self.misusing[pidx, period]
                seen = misusing & (rng.random(m) < self.scenario.misuse.urine_positive)
                listed = sorted(in_group)
                self._mark(positive, panel, seen, dict.fromkeys(listed, 1.0), listed, 0.0, rng)
            if self.events_use is not None:
                ev = self.scenario.events
                assert ev is not None
                seen = self.events_use[pidx, week] & (rng.random(m) < ev.test_sensitivity)
                chosen = {a: w for a, w in ev.drug_analytes.items() if a in panel}
                self._mark(positive, panel, seen, chosen, list(chosen), 0.2, rng)
            invalid = rng.random(m) < col.invalid_test
            result = np.where(positive, "positive", "negative").astype(object)
            result[invalid, :] = "invalid"
            rows_p.append(np.repeat(pidx, len(panel)))
            rows_w.append(np.repeat(week, len(panel)))
            rows_r.append(result.ravel())
        pidx_all = np.concatenate(rows_p) if rows_p else np.zeros(0, dtype=np.int64)
        week_all = np.concatenate(rows_w) if rows_w else np.zeros(0, dtype=np.int64)
        res_all = np.concatenate(rows_r) if rows_r else np.zeros(0, dtype=object)
        analyte_all = np.tile(np.array(panel, dtype=object), pidx_all.size // max(len(panel), 1))
        order = np.lexsort((week_all, pidx_all))
        return pd.DataFrame(
            {
                "participant_id": pd.array(self.ids[pidx_all[order]], dtype="string"),
                "week": week_all[order].astype(np.int64),
                "analyte": pd.array(analyte_all[order], dtype="string"),
                "result": pd.array(res_all[order], dtype="string"),
            }
        )

    @staticmethod
    def _mark(
        positive: np.ndarray,  # type: ignore[type-arg]
        panel: list[str],
        seen: BoolArray,
        weights: dict[str, float],
        group: list[str],
        co_positive: float,
        rng: np.random.Generator,
    ) -> None:
        """For rows where use is seen: one analyte drawn by weight, others of the group co-positive."""
        rows = np.flatnonzero(seen)
        if rows.size == 0:
            return
        names = [a for a in weights if a in panel]
        w = np.array([weights[a] for a in names], dtype=np.float64)
        primary = rng.choice(len(names), size=rows.size, p=w / w.sum())
        for k, name in enumerate(names):
            positive[rows[primary == k], panel.index(name)] = True
        for name in group:
            if name in panel:
                extra = rows[rng.random(rows.size) < co_positive]
                positive[extra, panel.index(name)] = True

    # ------------------------------------------------------------------ MORE models

    def misuse_model(self) -> None:
        spec = self.scenario.misuse
        if spec is None:
            return
        rng = self.rng["misuse_model"]
        weeks = _assessment_weeks(self.protocol, "comm")
        b = rng.standard_normal(self.n) * spec.person_sd
        self.misusing = np.ones((self.n, len(weeks)), dtype=np.bool_)
        for j, week in enumerate(weeks):
            if week == 0:
                continue
            a = np.zeros(len(self.arms))
            for i, arm in enumerate(self.arms):
                table = spec.not_misusing_percent[arm]
                pct = float(np.interp(week, sorted(table), [table[w] for w in sorted(table)]))
                a[i] = solve_intercept(1 - pct / 100.0, sd=spec.person_sd)
            self.misusing[:, j] = rng.random(self.n) < expit(a[self.arm_index] + b)
        if "comm" not in self.instruments:
            return
        target = score_target("comm.total")
        for j, week in enumerate(weeks):
            pidx = np.flatnonzero(self.done[:, week])
            mis = self.misusing[pidx, j]
            high = spec.comm_threshold + rng.poisson(spec.comm_excess_mean, pidx.size)
            low = rng.binomial(spec.comm_threshold - 1, spec.comm_below_fraction, pidx.size)
            totals = np.clip(np.where(mis, high, low), 0, len(target.items) * target.item_max)
            self._add(pidx, week, "comm", list(target.items), target.items_for(totals, rng))
        self.covered.setdefault("comm", set()).update(target.items)

    def events_model(self) -> None:
        spec = self.scenario.events
        if spec is None:
            return
        rng = self.rng["events"]
        weeks = np.arange(self.final_week + 1)
        hr = np.array([spec.return_hr[a] for a in self.arms])[self.arm_index]
        h = 1 - (1 - spec.return_hazard) ** hr
        start = np.ceil(np.log(rng.random(self.n)) / np.log1p(-h)).astype(np.int64)
        use = (weeks[None, :] == start[:, None]) | (
            (weeks[None, :] > start[:, None])
            & (rng.random((self.n, weeks.size)) < spec.use_after_return)
        )
        use[:, 0] = False
        self.events_use = use
        dhr = np.array([spec.dropout_hr[a] for a in self.arms])[self.arm_index]
        d = 1 - (1 - spec.dropout_hazard) ** dhr
        leave = np.ceil(np.log(rng.random(self.n)) / np.log1p(-d)).astype(np.int64)
        leaves = leave <= self.final_week
        earlier = leaves & (leave - 1 < self.last_week)
        self.last_week = np.where(earlier, leave - 1, self.last_week)
        self.reason = np.where(earlier, "left methadone treatment", self.reason)
        self.treatment_exit = np.where(earlier, leave, -1)
        a = np.array(
            [
                solve_intercept(spec.adherence_percent[arm] / 100.0, sd=spec.adherence_person_sd)
                for arm in self.arms
            ]
        )
        self.methadone_p = expit(
            a[self.arm_index] + spec.adherence_person_sd * rng.standard_normal(self.n)
        )
        # Days of use in each use week, and whether the week's use is self-reported.
        days_rng = self.rng["days"]
        mean_days = days_per_use_week(spec, tuple(self.arms), self.final_week)
        m = np.array([mean_days[a] for a in self.arms])[self.arm_index]
        days = 1 + days_rng.binomial(6, np.clip((m - 1) / 6, 0, 1)[:, None], size=use.shape)
        self.use_days = np.where(use, days, 0).astype(np.int64)
        self.reported = days_rng.random(use.shape) < spec.report_sensitivity

    # ------------------------------------------------------------------ AEs

    def adverse_events(self) -> pd.DataFrame:
        rng = self.rng["adverse_events"]
        spec = self.scenario.adverse_events
        followed = np.maximum(self.last_week, 1)
        rate = (
            np.array([spec.rate[a] for a in self.arms])[self.arm_index] * followed / self.final_week
        )
        counts = rng.poisson(rate)
        pidx = np.repeat(np.arange(self.n), counts)
        m = pidx.size
        onset = 1 + np.floor(rng.random(m) * followed[pidx]).astype(np.int64)
        related_p = np.array([spec.related.get(a, 0.0) for a in self.arms])[self.arm_index[pidx]]
        order = np.lexsort((onset, pidx))
        sev = _choice(rng, spec.severity, m)
        related = rng.random(m) < related_p
        relatedness = np.where(
            related,
            np.where(rng.random(m) < 0.7, "possibly", "probably"),
            np.where(rng.random(m) < 0.8, "not_related", "unlikely"),
        )
        frame = pd.DataFrame(
            {
                "participant_id": pd.array(self.ids[pidx], dtype="string"),
                "onset_week": onset,
                "severity": pd.array(sev, dtype="string"),
                "serious": rng.random(m) < spec.serious,
                "related": related,
                "expected": rng.random(m) < spec.expected,
                "relatedness": pd.array(relatedness.astype(object), dtype="string"),
            }
        ).iloc[order]
        frame = frame.reset_index(drop=True)
        frame["ae_id"] = pd.array([f"AE{k + 1:05d}" for k in range(len(frame))], dtype="string")
        frame["outcome"] = pd.array(["recovered"] * len(frame), dtype="string")
        return frame

    # ------------------------------------------------------------------ assembly

    def participants(self) -> pd.DataFrame:
        start = self.scenario.recruitment_start
        randomized_on = pd.to_datetime(
            [start + timedelta(days=int(d)) for d in self.randomized_day]
        ).astype("datetime64[ns]")
        withdrawn = self.last_week < self.final_week
        withdrawn_week = pd.array(np.where(withdrawn, self.last_week + 1, 0), dtype="Int64")
        withdrawn_week[~withdrawn] = pd.NA
        reason_text = np.array(self.reason, dtype=object)
        reason_text[~withdrawn] = None
        reason = pd.array(reason_text, dtype="string")
        rng = self.rng["demographics"]
        sc = self.scenario
        site = _choice(rng, sc.sites, self.n) if sc.sites else np.full(self.n, None, dtype=object)
        cohort = self.cohort.copy()
        cohort[~self.in_groups] = None
        exit_week = pd.array([pd.NA] * self.n, dtype="Int64")
        if self.treatment_exit is not None:
            exit_week = pd.array(
                [int(w) if w >= 0 else pd.NA for w in self.treatment_exit], dtype="Int64"
            )
        frame = pd.DataFrame(
            {
                "participant_id": pd.array(self.ids, dtype="string"),
                "arm": pd.array(np.array(self.arms, dtype=object)[self.arm_index], dtype="string"),
                "site": pd.array(site, dtype="string"),
                "cohort": pd.array(cohort, dtype="string"),
                "randomized_on": randomized_on,
                "withdrawn_week": withdrawn_week,
                "withdrawal_reason": reason,
            }
        )
        demo = sc.demographics
        for column in ("race", "ethnicity", "language"):
            table = getattr(demo, column) if demo is not None else {}
            drawn = _choice(rng, table, self.n) if table else np.full(self.n, None, dtype=object)
            frame[column] = pd.array(drawn, dtype="string")
        frame["treatment_exit_week"] = exit_week
        for cov in self.protocol.baseline_covariates:
            values = self.covariates.get(cov.name)
            if values is None:
                series: pd.api.extensions.ExtensionArray | np.ndarray = pd.array(
                    [pd.NA] * self.n, dtype="string"
                )  # type: ignore[type-arg]
                if cov.type == "number":
                    series = np.full(self.n, np.nan)
                elif cov.type == "integer":
                    series = pd.array([pd.NA] * self.n, dtype="Int64")
                elif cov.type == "boolean":
                    series = pd.array([pd.NA] * self.n, dtype="boolean")
            elif cov.type == "number":
                series = np.asarray(values, dtype=np.float64)
            elif cov.type == "integer":
                series = pd.array(np.asarray(values).astype(np.int64), dtype="Int64")
            elif cov.type == "boolean":
                series = pd.array(np.asarray(values, dtype=bool), dtype="boolean")
            else:
                series = pd.array(values, dtype="string")
            frame[cov.name] = series
        return frame

    def screening(self) -> pd.DataFrame:
        total = self.referral_stage.size
        width = max(5, len(str(total)))
        pid = np.full(total, None, dtype=object)
        pid[self.randomized_slot] = self.ids
        return pd.DataFrame(
            {
                "referral_id": pd.array(
                    [f"R{k + 1:0{width}d}" for k in range(total)], dtype="string"
                ),
                "participant_id": pd.array(pid, dtype="string"),
                "referred_on": pd.to_datetime(list(self.referral_date)).astype("datetime64[ns]"),
                "stage": pd.array(self.referral_stage, dtype="string"),
                "exclusion_reason": pd.array(self.referral_reason, dtype="string"),
            }
        )

    def run(self) -> StudyDataset:
        self.instruments = {
            a.instrument
            for a in self.protocol.assessments
            if a.instrument not in _SKIPPED_INSTRUMENTS
        }
        self.covered: dict[str, set[str]] = {}
        self.sample()
        self.funnel_and_allocation()
        self.retention()
        self.events_model()
        attendance = self.attendance()
        self.survey_done()
        self.trajectories()
        self.substances()
        self.misuse_model()
        self.self_report()
        ema_instruments = {a.instrument for a in self.protocol.assessments if a.mode == "ema"}
        for instrument_id in sorted(self.instruments):
            if instrument_id == "substance_use_7d":
                continue
            if instrument_id in ema_instruments and self.scenario.ema is not None:
                continue  # prompts go to ema.csv
            try:
                instrument = get_instrument(instrument_id)
            except KeyError:
                continue  # an instrument not shipped yet: nothing to simulate
            if instrument_id == "home_practice":
                self.home_practice(instrument)
            elif instrument_id == "drug_use_days":
                self.drug_use_days(instrument)
            else:
                self.generic(instrument, self.covered.get(instrument_id, set()))
        toxicology = self.toxicology()
        adverse = self.adverse_events()
        ema = self.ema()
        medications = self.medications()
        participants = self.participants()
        last_day = int(self.randomized_day.max()) + 7 * self.final_week + 1
        exported = datetime.combine(
            self.scenario.recruitment_start + timedelta(days=last_day), time(0), tzinfo=UTC
        )
        meta = StudyMeta(
            protocol_id=self.protocol.id,
            protocol_version=self.protocol.version,
            exported_at=exported,
            arms_masked=False,
            source="simulate",
        )
        return StudyDataset(
            meta=meta,
            participants=participants,
            responses=_conform(self.responses.frame(self.ids), RESPONSES),
            toxicology=_conform(toxicology, TOXICOLOGY),
            attendance=_conform(attendance, ATTENDANCE),
            adverse_events=_conform(adverse, ADVERSE_EVENTS),
            screening=_conform(self.screening(), SCREENING),
            ema=ema.reset_index(drop=True),
            medications=_conform(medications, MEDICATIONS),
            covariates=tuple(c.name for c in self.protocol.baseline_covariates),
            ema_items=tuple(str(c) for c in ema.columns[len(EMA_COLUMNS) :]),
        )


def simulate_trial(
    protocol: Protocol | str | Path,
    *,
    n: int | None = None,
    seed: int,
    scenario: Scenario | None = None,
) -> StudyDataset:
    """Simulate one trial of ``protocol`` as a study dataset.

    ``n`` randomized participants (default: the published trial's randomized n), every
    random draw from ``seed``, knobs from ``scenario`` (default: calibrated to the
    protocol's published results, :func:`~mindtrial.simulate.scenario.default_scenario`).
    The frames have the documented dtypes of :class:`~mindtrial.dataset.StudyDataset`;
    the result passes :func:`mindtrial.dataset.validate_dataset`. Raises
    :class:`~mindtrial.simulate.scenario.ScenarioError` for a scenario that does not fit.
    """
    chosen = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a whole number ≥ 0, got {seed!r}")
    size = chosen.published.flow.randomized if n is None else n
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 2:
        raise ValueError(f"n must be a whole number ≥ 2 (participants to randomize), got {n!r}")
    used = default_scenario(chosen) if scenario is None else scenario
    check_scenario(used, chosen)
    return _Trial(chosen, used, int(size), int(seed)).run()


__all__ = ["simulate_trial"]
