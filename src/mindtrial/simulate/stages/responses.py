"""Item answers as blocks (one instrument, one week, many participants) and the long
``responses`` table they assemble into."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mindtrial.simulate.numerics import FloatArray, IntArray
from mindtrial.simulate.stages.draws import ObjectArray


@dataclass(frozen=True)
class Answers:
    """``values[r, j]``: participant ``pidx[r]``'s answer to ``items[j]`` in ``week``."""

    pidx: IntArray
    week: int
    instrument: str
    items: tuple[str, ...]
    values: FloatArray


def answers(
    pidx: IntArray, week: int, instrument: str, items: Iterable[str], values: ArrayLike
) -> Answers:
    return Answers(
        pidx=pidx,
        week=week,
        instrument=instrument,
        items=tuple(items),
        values=np.asarray(values, dtype=np.float64),
    )


def merge_covered(*covered: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """The items of each instrument answered by any of the stages ``covered`` come from."""
    out: dict[str, frozenset[str]] = {}
    for mapping in covered:
        for instrument, items in mapping.items():
            out[instrument] = out.get(instrument, frozenset()) | items
    return out


def responses_frame(blocks: Iterable[Answers], ids: ObjectArray) -> pd.DataFrame:
    """The long table, sorted by participant, week, then instrument and item in the order
    they first appear among ``blocks`` (blocks without participants do not count)."""
    pidx: list[IntArray] = []
    week: list[IntArray] = []
    instrument: list[IntArray] = []
    item: list[IntArray] = []
    value: list[FloatArray] = []
    names: dict[str, int] = {}
    item_names: dict[str, int] = {}
    for block in blocks:
        m, k = block.values.shape
        if m == 0:
            continue
        code = names.setdefault(block.instrument, len(names))
        codes = [item_names.setdefault(i, len(item_names)) for i in block.items]
        pidx.append(np.repeat(block.pidx, k))
        week.append(np.full(m * k, block.week, dtype=np.int64))
        instrument.append(np.full(m * k, code, dtype=np.int64))
        item.append(np.tile(np.asarray(codes, dtype=np.int64), m))
        value.append(block.values.ravel())
    if not pidx:
        return pd.DataFrame(
            {
                "participant_id": pd.array([], dtype="string"),
                "week": np.array([], dtype=np.int64),
                "instrument": pd.array([], dtype="string"),
                "item": pd.array([], dtype="string"),
                "value": np.array([], dtype=np.float64),
            }
        )
    p = np.concatenate(pidx)
    w = np.concatenate(week)
    inst = np.concatenate(instrument)
    it = np.concatenate(item)
    order = np.lexsort((it, inst, w, p))
    inst_names = np.array(list(names), dtype=object)
    it_names = np.array(list(item_names), dtype=object)
    return pd.DataFrame(
        {
            "participant_id": pd.array(ids[p[order]], dtype="string"),
            "week": w[order].astype(np.int64),
            "instrument": pd.array(inst_names[inst[order]], dtype="string"),
            "item": pd.array(it_names[it[order]], dtype="string"),
            "value": np.concatenate(value)[order],
        }
    )
