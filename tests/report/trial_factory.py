"""A small, seeded, hand-built M-ROCC trial in the study dataset format (for runner and
report tests, until the simulator exists; independent of it).

Every table is built from explicit rules below so a test can reason about what the data
contain: craving falls faster in the ``mrocc`` arm, anxiety falls in both, substance use
depends on a participant effect, about 15% withdraw, ~15% of weekly forms are missed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from mindtrial.dataset import StudyDataset, StudyMeta, build_dataset

ARMS = ("mrocc", "recovery_support")
MASKED_CODES = {"mrocc": "KX", "recovery_support": "QB"}
ANXIETY_ITEMS = (
    "EDANX01",
    "EDANX40",
    "EDANX41",
    "EDANX53",
    "EDANX46",
    "EDANX07",
    "EDANX05",
    "EDANX54",
)
OPIOIDS = ("opiates", "oxycodone", "fentanyl", "methadone")


def _expit(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


@lru_cache(maxsize=16)
def make_trial(
    *,
    n: int = 60,
    seed: int = 7,
    masked: bool = False,
    empty_arm: bool = False,
    constant_income: bool = False,
    no_craving: bool = False,
) -> StudyDataset:
    """The trial as a validated :class:`StudyDataset`.

    ``empty_arm`` puts everyone in ``mrocc``; ``constant_income`` gives everyone the same
    income category; ``no_craving`` leaves out every Opioid Craving Scale form.
    """
    rng = np.random.default_rng(seed)
    ids = [f"P{i + 1:03d}" for i in range(n)]
    arms = [ARMS[0] if empty_arm else ARMS[(i // 2 + i) % 2] for i in range(n)]
    withdrawn: dict[str, int] = {}
    for pid in ids:
        if rng.random() < 0.15:
            withdrawn[pid] = int(rng.integers(6, 21))
    cohorts = [f"c{i // 10 + 1:02d}" for i in range(n)]
    incomes = (
        ["10k-30k"] * n if constant_income else list(rng.choice(["<10k", "10k-30k", ">30k"], n))
    )
    cocaine = rng.random(n) < 0.25
    dose = np.clip(np.round(rng.normal(16, 5, n), 1), 2, 32)
    participants = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": [MASKED_CODES[a] if masked else a for a in arms],
            "site": ["virtual"] * n,
            "cohort": cohorts,
            "randomized_on": [date(2021, 2, 1) + timedelta(days=7 * (i // 10)) for i in range(n)],
            "withdrawn_week": [withdrawn.get(p) for p in ids],
            "withdrawal_reason": [
                ("moved away" if i % 2 else "lost to follow-up") if p in withdrawn else None
                for i, p in enumerate(ids)
            ],
            "bup_dose_mg": dose,
            "cocaine_use_baseline": cocaine,
            "income_category": incomes,
            "sex": list(rng.choice(["female", "male"], n, p=[0.6, 0.4])),
            "age": np.round(rng.uniform(20, 65, n)),
        }
    )
    responses: list[tuple[str, int, str, str, str]] = []
    toxicology: list[tuple[str, int, str, str]] = []
    attendance: list[tuple[str, int, bool]] = []
    adverse: list[tuple[str, int, str, bool, bool, bool]] = []
    for i, pid in enumerate(ids):
        last = withdrawn.get(pid, 24)
        treated = arms[i] == ARMS[0]
        u = rng.normal(0, 1.0)
        craving0 = float(np.clip(rng.normal(4.0, 1.5), 0.5, 9))
        shift = rng.normal(0, 0.8)  # a person effect after baseline
        anxiety0 = float(rng.normal(24, 5))
        for week in range(1, 25):
            attendance.append((pid, week, bool(week <= last and rng.random() < 0.72)))
        # substance use by week, tests once per 2-week period
        for period in range(1, 13):
            weeks = (2 * period - 1, 2 * period)
            use = {
                "opioids": [rng.random() < _expit(-2.2 + u + 0.4 * cocaine[i]) for _ in weeks],
                "benzodiazepines": [rng.random() < _expit(-2.4 + 0.6 * u) for _ in weeks],
                "cocaine": [rng.random() < _expit(-2.6 + 1.2 * cocaine[i]) for _ in weeks],
            }
            for k, week in enumerate(weeks):
                if week > last or rng.random() < 0.12:
                    continue
                for item, flags in use.items():
                    responses.append(
                        (pid, week, "substance_use_7d", item, "1" if flags[k] else "0")
                    )
            test_week = weeks[int(rng.integers(0, 2))]
            if test_week <= last and rng.random() < 0.88:
                for analyte in OPIOIDS:
                    positive = analyte == "fentanyl" and any(use["opioids"])
                    toxicology.append(
                        (pid, test_week, analyte, "positive" if positive else "negative")
                    )
                for substance in ("benzodiazepines", "cocaine"):
                    toxicology.append(
                        (
                            pid,
                            test_week,
                            substance,
                            "positive" if any(use[substance]) else "negative",
                        )
                    )
        # craving: 3 items 0-10, mean falls by 2.0 (mrocc) or 1.0 (control) over 24 weeks
        if not no_craving:
            for week in range(0, 25):
                if week > last or (week > 0 and rng.random() < 0.15):
                    continue
                drop = (2.0 if treated else 1.0) * week / 24
                level = craving0 - drop + (shift if week else 0.0) + rng.normal(0, 0.6)
                for item in ("ocs_1", "ocs_2", "ocs_3"):
                    value = int(np.clip(round(level + rng.normal(0, 0.5)), 0, 10))
                    responses.append((pid, week, "ocs", item, str(value)))
        # anxiety: PROMIS raw sum, falls by 6 (both arms) over 24 weeks
        for week in (0, 8, 16, 24):
            if week > last or (week > 0 and rng.random() < 0.1):
                continue
            raw = int(np.clip(round(anxiety0 - 6 * week / 24 + rng.normal(0, 2.5)), 8, 40))
            base, extra = divmod(raw, 8)
            values = [min(base + (1 if j < extra else 0), 5) for j in range(8)]
            responses += [
                (pid, week, "promis_anxiety_8a", item, str(v))
                for item, v in zip(ANXIETY_ITEMS, values, strict=True)
            ]
        frailty = rng.gamma(1.2, 1 / 1.2)
        for _ in range(int(rng.poisson(0.04 * last * frailty))):
            adverse.append(
                (
                    pid,
                    int(rng.integers(1, last + 1)),
                    str(rng.choice(["mild", "moderate", "severe"], p=[0.6, 0.3, 0.1])),
                    bool(rng.random() < 0.08),
                    bool(rng.random() < 0.1),
                    bool(rng.random() < 0.7),
                )
            )
    screening = [
        (f"R{k + 1:04d}", pid, date(2021, 1, 4), "randomized", None) for k, pid in enumerate(ids)
    ]
    stages = [
        ("referred", None),
        ("screened", "not eligible: no recent use or anxiety"),
        ("eligible", None),
        ("consented", None),
        ("consented", "met exclusion criteria"),
        ("baseline", None),
    ]
    for k in range(2 * n):
        stage, reason = stages[k % len(stages)]
        screening.append((f"R{n + k + 1:04d}", None, date(2021, 1, 4), stage, reason))
    meta = StudyMeta(
        protocol_id="mrocc-2025",
        protocol_version="1.0",
        exported_at=datetime(2026, 1, 22, 12, 0, tzinfo=UTC),
        arms_masked=masked,
        source="tests",
    )
    return build_dataset(
        meta,
        participants=participants,
        responses=pd.DataFrame(
            responses, columns=["participant_id", "week", "instrument", "item", "value"]
        ),
        toxicology=pd.DataFrame(
            toxicology, columns=["participant_id", "week", "analyte", "result"]
        ),
        attendance=pd.DataFrame(attendance, columns=["participant_id", "week", "attended"]),
        adverse_events=pd.DataFrame(
            adverse,
            columns=["participant_id", "onset_week", "severity", "serious", "related", "expected"],
        ),
        screening=pd.DataFrame(
            screening,
            columns=["referral_id", "participant_id", "referred_on", "stage", "exclusion_reason"],
        ),
    )
