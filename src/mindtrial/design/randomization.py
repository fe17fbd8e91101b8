"""Concealed allocation lists: permuted blocks of randomly chosen size, optionally stratified.

How a list is made (:func:`generate_allocation_list`):

- Every combination of stratum levels is its own stratum with its own sequence
  (``"site=a|sex=female"``; ``"all"`` when there are no strata). ``n`` is the number of
  entries **per stratum**, so the list has ``n × (number of strata)`` entries.
- Within a stratum, blocks follow one another. Each block's size is drawn uniformly from
  ``block_sizes``; the block holds every arm in proportion to the ratio (a block of 6 at
  2:1 holds 4 and 2) in a uniformly random order. The list is cut at exactly ``n`` entries, so
  the last block of a stratum may be incomplete (fewer entries than its ``block_size``);
  every complete block is balanced.
- Each stratum draws from its own numpy ``Generator`` seeded by ``SeedSequence`` with the
  user's seed and a SHA-256 digest of the stratum key. A stratum's sequence therefore depends
  only on the seed, the arms and ratio, the block sizes, ``n`` and its own key: adding or
  removing a level leaves the other strata's sequences unchanged. (Adding a stratification
  *field* changes every key, ``site=a`` becoming ``site=a|sex=female``, and so every sequence.)

Files: :func:`write_allocation_csv` / :func:`read_allocation_csv` use MindTrial's own CSV
(columns ``stratum``, one column per stratification field, ``sequence``, ``block``,
``block_size``, ``arm``). :func:`write_redcap_allocation_csv` /
:func:`read_redcap_allocation_csv` use the allocation-table layout REDCap's randomization
module uploads: a ``redcap_randomization_group`` column holding the arm's raw code (1..k in
arm order unless a code map is given) and one column per stratification field holding the
field's raw code (the level itself unless a code map is given). REDCap assigns, within the
record's stratum, the first unused row, so rows are written in sequence order. A REDCap table
carries no block information: entries read from one have ``block`` and ``block_size`` None.
Writes go to a temporary file that replaces the target only when complete.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mindtrial.atomic_files import replace_file

__all__ = [
    "REDCAP_GROUP_COLUMN",
    "AllocationEntry",
    "AllocationList",
    "AllocationListError",
    "generate_allocation_list",
    "read_allocation_csv",
    "read_redcap_allocation_csv",
    "redcap_arm_codes",
    "stratum_key",
    "write_allocation_csv",
    "write_redcap_allocation_csv",
]

REDCAP_GROUP_COLUMN = "redcap_randomization_group"
_REDCAP_NUMBER_COLUMN = "redcap_randomization_number"
_UNSTRATIFIED = "all"
_RESERVED_CHARS = ("|", "=", ",")
_CORE_COLUMNS = ("stratum", "sequence", "block", "block_size", "arm")


class AllocationListError(ValueError):
    """Invalid options for a list, or a list file that cannot be read."""


@dataclass(frozen=True)
class AllocationEntry:
    """One slot of the list: the ``sequence``-th assignment within ``stratum``."""

    stratum: str
    sequence: int
    block: int | None
    block_size: int | None
    arm: str


@dataclass(frozen=True)
class AllocationList:
    """A generated (or read) allocation list.

    ``strata`` keeps the stratification fields and their levels in order; ``entries`` are
    grouped by stratum (in the order of :attr:`stratum_keys`) and by sequence within it.
    ``seed``, ``ratio`` and ``block_sizes`` are None for a list read from a file.
    """

    arms: tuple[str, ...]
    strata: tuple[tuple[str, tuple[str, ...]], ...]
    n_per_stratum: int
    entries: tuple[AllocationEntry, ...]
    seed: int | None = None
    ratio: tuple[int, ...] | None = None
    block_sizes: tuple[int, ...] | None = None

    @property
    def stratum_keys(self) -> tuple[str, ...]:
        """Every stratum key, in list order."""
        return _stratum_keys(self.strata)

    def stratum_levels(self, key: str) -> dict[str, str]:
        """The field -> level mapping a stratum key stands for (empty for ``"all"``)."""
        if key == _UNSTRATIFIED:
            return {}
        return dict(part.split("=", 1) for part in key.split("|"))

    def for_stratum(self, key: str) -> tuple[AllocationEntry, ...]:
        """The entries of one stratum, in sequence order."""
        if key not in self.stratum_keys:
            raise KeyError(f"no stratum {key!r}; strata are {', '.join(self.stratum_keys)}")
        return tuple(e for e in self.entries if e.stratum == key)

    def counts(self) -> dict[str, dict[str, int]]:
        """Entries per arm within each stratum: ``{stratum: {arm: count}}``."""
        found = {key: dict.fromkeys(self.arms, 0) for key in self.stratum_keys}
        for entry in self.entries:
            found[entry.stratum][entry.arm] += 1
        return found


def stratum_key(levels: Mapping[str, str]) -> str:
    """The key of a stratum, e.g. ``"site=a|sex=female"`` (``"all"`` when unstratified)."""
    if not levels:
        return _UNSTRATIFIED
    return "|".join(f"{field}={level}" for field, level in levels.items())


def _stratum_keys(strata: Sequence[tuple[str, Sequence[str]]]) -> tuple[str, ...]:
    fields = [field for field, _ in strata]
    combos = itertools.product(*(levels for _, levels in strata))
    return tuple(stratum_key(dict(zip(fields, combo, strict=True))) for combo in combos)


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise AllocationListError(f"{what} must be non-empty text, got {name!r}")
    if name != name.strip() or any(c in name for c in _RESERVED_CHARS):
        raise AllocationListError(
            f"{what} {name!r} must not contain '|', '=', ',' or surrounding spaces"
        )
    return name


def _check_positive_int(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise AllocationListError(f"{what} must be a positive whole number, got {value!r}")
    return int(value)


def _stream(seed: int, key: str) -> np.random.Generator:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = np.frombuffer(digest, dtype="<u4").tolist()
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def generate_allocation_list(
    *,
    arms: Mapping[str, int],
    n: int,
    block_sizes: Sequence[int],
    seed: int,
    strata: Mapping[str, Sequence[str]] | None = None,
) -> AllocationList:
    """Make a permuted-block allocation list with ``n`` entries in every stratum.

    ``arms`` maps arm id -> ratio weight (``{"mrocc": 1, "recovery_support": 1}``); every
    block size must be a multiple of the weights' sum (4, 6, 8 for 1:1; 3, 6 for 2:1).
    ``strata`` maps a stratification field to its levels; every combination of levels is a
    stratum. The same arguments always give the same list. Raises
    :class:`AllocationListError` on bad options.
    """
    if len(arms) < 2:
        raise AllocationListError(f"need at least two arms, got {list(arms)}")
    arm_ids = tuple(_check_name("arm id", arm) for arm in arms)
    ratio = tuple(_check_positive_int(f"ratio of arm {a!r}", w) for a, w in arms.items())
    n = _check_positive_int("n (entries per stratum)", n)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise AllocationListError(f"seed must be a whole number ≥ 0, got {seed!r}")
    if not block_sizes:
        raise AllocationListError("block_sizes must list at least one size")
    sizes = tuple(_check_positive_int("block size", b) for b in block_sizes)
    unit = sum(ratio)
    bad = [b for b in sizes if b % unit]
    if bad:
        shown = ":".join(str(w) for w in ratio)
        raise AllocationListError(
            f"block size(s) {', '.join(map(str, bad))} are not multiples of {unit}, "
            f"the sum of the ratio {shown}; every block must hold the arms in that ratio"
        )
    if len(set(sizes)) != len(sizes):
        raise AllocationListError(f"block_sizes repeats a size: {list(sizes)}")

    strata_spec: list[tuple[str, tuple[str, ...]]] = []
    for field, levels in (strata or {}).items():
        _check_name("stratification field", field)
        if isinstance(levels, str) or not levels:
            raise AllocationListError(
                f"stratification field {field!r} needs a list of levels, got {levels!r}"
            )
        checked = tuple(_check_name(f"level of {field!r}", level) for level in levels)
        if len(set(checked)) != len(checked):
            raise AllocationListError(f"stratification field {field!r} repeats a level")
        strata_spec.append((field, checked))

    entries: list[AllocationEntry] = []
    for key in _stratum_keys(strata_spec):
        rng = _stream(int(seed), key)
        sequence = 0
        block = 0
        while sequence < n:
            block += 1
            size = sizes[int(rng.integers(len(sizes)))]
            contents = np.repeat(np.arange(len(arm_ids)), [w * size // unit for w in ratio])
            for arm_index in rng.permutation(contents):
                if sequence == n:
                    break
                sequence += 1
                entries.append(
                    AllocationEntry(
                        stratum=key,
                        sequence=sequence,
                        block=block,
                        block_size=size,
                        arm=arm_ids[int(arm_index)],
                    )
                )
    return AllocationList(
        arms=arm_ids,
        strata=tuple(strata_spec),
        n_per_stratum=n,
        entries=tuple(entries),
        seed=int(seed),
        ratio=ratio,
        block_sizes=sizes,
    )


def redcap_arm_codes(arms: Sequence[str]) -> dict[int, str]:
    """REDCap codes for arms: 1..k in the given order (code -> arm id)."""
    return dict(enumerate(arms, start=1))


def _write_atomically(path: Path, header: Sequence[str], rows: list[list[str]]) -> None:
    path = Path(path)
    if not path.parent.is_dir():
        raise AllocationListError(f"cannot write {path}: folder {path.parent} does not exist")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    replace_file(path, text.getvalue(), private=True)


def write_allocation_csv(allocation: AllocationList, path: Path | str) -> None:
    """Write the list in MindTrial's CSV layout (all or nothing)."""
    fields = [field for field, _ in allocation.strata]
    header = ["stratum", *fields, "sequence", "block", "block_size", "arm"]
    rows = []
    for e in allocation.entries:
        levels = allocation.stratum_levels(e.stratum)
        rows.append(
            [
                e.stratum,
                *(levels[f] for f in fields),
                str(e.sequence),
                "" if e.block is None else str(e.block),
                "" if e.block_size is None else str(e.block_size),
                e.arm,
            ]
        )
    _write_atomically(Path(path), header, rows)


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except OSError as exc:
        raise AllocationListError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise AllocationListError(f"{path} is not a readable UTF-8 CSV file: {exc}") from exc
    if not header:
        raise AllocationListError(f"{path} is empty: expected a header row")
    if not rows:
        raise AllocationListError(f"{path} has a header but no rows")
    return header, rows


def _int_cell(path: Path, line: int, column: str, text: str | None) -> int:
    try:
        value = int(text or "")
    except ValueError:
        raise AllocationListError(
            f"{path}, line {line}, column {column!r}: expected a whole number, got {text!r}"
        ) from None
    if value <= 0:
        raise AllocationListError(
            f"{path}, line {line}, column {column!r}: expected a number ≥ 1, got {value}"
        )
    return value


def _assemble(
    path: Path,
    fields: list[str],
    records: list[tuple[int, dict[str, str], AllocationEntry]],
    arms: tuple[str, ...],
) -> AllocationList:
    """Check a file's entries form complete strata with consecutive sequences."""
    levels: dict[str, dict[str, None]] = {f: {} for f in fields}
    by_stratum: dict[str, list[AllocationEntry]] = {}
    for line, row_levels, entry in records:
        for f in fields:
            level = row_levels[f]
            if not level or any(c in level for c in _RESERVED_CHARS):
                raise AllocationListError(
                    f"{path}, line {line}, column {f!r}: expected a stratum level without "
                    f"'|', '=' or ',', got {level!r}"
                )
            levels[f][level] = None
        by_stratum.setdefault(entry.stratum, []).append(entry)
    strata = tuple((f, tuple(levels[f])) for f in fields)
    keys = _stratum_keys(strata)
    absent = [k for k in keys if k not in by_stratum]
    if absent:
        raise AllocationListError(f"{path}: no rows for stratum {', '.join(absent)}")
    sizes = {len(v) for v in by_stratum.values()}
    if len(sizes) != 1:
        shown = ", ".join(f"{k}: {len(v)}" for k, v in by_stratum.items())
        raise AllocationListError(f"{path}: strata have different numbers of rows ({shown})")
    entries: list[AllocationEntry] = []
    for key in keys:
        ordered = sorted(by_stratum[key], key=lambda e: e.sequence)
        numbers = [e.sequence for e in ordered]
        if numbers != list(range(1, len(ordered) + 1)):
            raise AllocationListError(
                f"{path}: stratum {key!r} has sequence numbers {numbers[:10]}…; "
                "expected 1, 2, 3, … without gaps or repeats"
            )
        entries.extend(ordered)
    return AllocationList(
        arms=arms, strata=strata, n_per_stratum=sizes.pop(), entries=tuple(entries)
    )


def read_allocation_csv(path: Path | str, *, arms: Sequence[str] | None = None) -> AllocationList:
    """Read a list written by :func:`write_allocation_csv`, checking its structure.

    ``arms`` (the protocol's arm ids, in order) fixes the order of :attr:`AllocationList.arms`
    and makes any other arm in the file an error; without it, arms are in order of first
    appearance.
    """
    path = Path(path)
    header, rows = _read_rows(path)
    absent = [c for c in _CORE_COLUMNS if c not in header]
    if absent:
        raise AllocationListError(
            f"{path}: missing column(s) {', '.join(absent)}; expected {', '.join(_CORE_COLUMNS)} "
            "plus one column per stratification field"
        )
    fields = [c for c in header if c not in _CORE_COLUMNS]
    records = []
    found: dict[str, None] = {}
    for line, row in enumerate(rows, start=2):
        arm = row["arm"] or ""
        if not arm:
            raise AllocationListError(f"{path}, line {line}, column 'arm': empty")
        if arms is not None and arm not in arms:
            raise AllocationListError(
                f"{path}, line {line}, column 'arm': {arm!r} is not one of {', '.join(arms)}"
            )
        found[arm] = None
        row_levels = {f: row[f] or "" for f in fields}
        key = stratum_key(row_levels)
        if (row["stratum"] or "") != key:
            raise AllocationListError(
                f"{path}, line {line}: column 'stratum' is {row['stratum']!r} but the "
                f"stratification columns say {key!r}"
            )
        entry = AllocationEntry(
            stratum=key,
            sequence=_int_cell(path, line, "sequence", row["sequence"]),
            block=_int_cell(path, line, "block", row["block"]),
            block_size=_int_cell(path, line, "block_size", row["block_size"]),
            arm=arm,
        )
        records.append((line, row_levels, entry))
    return _assemble(path, fields, records, tuple(arms) if arms is not None else tuple(found))


def write_redcap_allocation_csv(
    allocation: AllocationList,
    path: Path | str,
    *,
    arm_codes: Mapping[int, str] | None = None,
    strata_codes: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Write the list as a REDCap allocation table (all or nothing).

    ``arm_codes`` maps REDCap code -> arm id (default :func:`redcap_arm_codes` of the list's
    arms); ``strata_codes`` maps field -> level -> REDCap raw code (default: the level).
    """
    codes = dict(arm_codes) if arm_codes is not None else redcap_arm_codes(allocation.arms)
    code_of = {arm: code for code, arm in codes.items()}
    unmapped = [arm for arm in allocation.arms if arm not in code_of]
    if unmapped or len(code_of) != len(codes):
        raise AllocationListError(
            f"arm_codes must give each arm ({', '.join(allocation.arms)}) exactly one code; "
            f"got {codes}"
        )
    fields = [field for field, _ in allocation.strata]
    level_code: dict[str, dict[str, str]] = {}
    for field, field_levels in allocation.strata:
        given = dict((strata_codes or {}).get(field, {}))
        level_code[field] = {level: str(given.get(level, level)) for level in field_levels}
        if len(set(level_code[field].values())) != len(field_levels):
            raise AllocationListError(f"strata_codes give two levels of {field!r} the same code")
    rows = []
    for e in allocation.entries:
        levels = allocation.stratum_levels(e.stratum)
        rows.append([str(code_of[e.arm]), *(level_code[f][levels[f]] for f in fields)])
    _write_atomically(Path(path), [REDCAP_GROUP_COLUMN, *fields], rows)


def read_redcap_allocation_csv(
    path: Path | str,
    *,
    arm_codes: Mapping[int, str],
    strata_codes: Mapping[str, Mapping[str, str]] | None = None,
) -> AllocationList:
    """Read a REDCap allocation table.

    ``arm_codes`` maps REDCap code -> arm id; ``strata_codes`` maps field -> level -> raw code
    (codes without an entry are read as the level itself). Every column other than
    ``redcap_randomization_group`` and ``redcap_randomization_number`` is a stratification
    field (``redcap_data_access_group`` included). Sequence numbers follow row order within
    each stratum; ``block`` and ``block_size`` are None.
    """
    path = Path(path)
    header, rows = _read_rows(path)
    if REDCAP_GROUP_COLUMN not in header:
        raise AllocationListError(
            f"{path}: no {REDCAP_GROUP_COLUMN!r} column; a REDCap allocation table has that "
            "column plus one column per stratification field"
        )
    arm_of = {str(code): arm for code, arm in arm_codes.items()}
    fields = [c for c in header if c not in (REDCAP_GROUP_COLUMN, _REDCAP_NUMBER_COLUMN)]
    level_of = {
        f: {str(code): level for level, code in (strata_codes or {}).get(f, {}).items()}
        for f in fields
    }
    counters: Counter[str] = Counter()
    records = []
    for line, row in enumerate(rows, start=2):
        code = (row[REDCAP_GROUP_COLUMN] or "").strip()
        if code not in arm_of:
            raise AllocationListError(
                f"{path}, line {line}, column {REDCAP_GROUP_COLUMN!r}: code {code!r} is not one "
                f"of the arm codes {', '.join(arm_of)}"
            )
        row_levels = {}
        for f in fields:
            raw = (row[f] or "").strip()
            row_levels[f] = level_of[f].get(raw, raw)
        key = stratum_key(row_levels)
        counters[key] += 1
        entry = AllocationEntry(
            stratum=key, sequence=counters[key], block=None, block_size=None, arm=arm_of[code]
        )
        records.append((line, row_levels, entry))
    return _assemble(path, fields, records, tuple(arm_of.values()))
