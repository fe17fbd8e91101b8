"""Allocation lists: properties of permuted blocks, reproducibility, strata, CSV formats."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mindtrial.design.randomization import (
    AllocationEntry,
    AllocationList,
    AllocationListError,
    generate_allocation_list,
    read_allocation_csv,
    read_redcap_allocation_csv,
    write_allocation_csv,
    write_redcap_allocation_csv,
)

ONE_TO_ONE = {"mrocc": 1, "recovery_support": 1}


def _blocks(allocation: AllocationList) -> dict[tuple[str, int], list[AllocationEntry]]:
    blocks: dict[tuple[str, int], list[AllocationEntry]] = {}
    for entry in allocation.entries:
        assert entry.block is not None
        blocks.setdefault((entry.stratum, entry.block), []).append(entry)
    return blocks


def _check_permuted_blocks(
    allocation: AllocationList, arms: dict[str, int], sizes: list[int], n: int
) -> None:
    """The defining properties, checked from the entries alone."""
    unit = sum(arms.values())
    for key in allocation.stratum_keys:
        entries = allocation.for_stratum(key)
        assert [e.sequence for e in entries] == list(range(1, n + 1))
        block_numbers = [e.block or 0 for e in entries]
        assert block_numbers == sorted(block_numbers)
        assert set(block_numbers) == set(range(1, max(block_numbers) + 1))
    blocks = _blocks(allocation)
    last_block = {key: max(b for k, b in blocks if k == key) for key in allocation.stratum_keys}
    for (key, number), members in blocks.items():
        size = members[0].block_size
        assert size in sizes
        assert {m.block_size for m in members} == {size}
        if len(members) == size:
            counts = Counter(m.arm for m in members)
            assert counts == {arm: w * size // unit for arm, w in arms.items()}
        else:  # only a stratum's last block may be cut short, and only by n
            assert number == last_block[key]
            assert len(members) < size  # type: ignore[operator]


ratios = st.lists(st.integers(1, 3), min_size=2, max_size=3).map(
    lambda ws: {f"arm{i}": w for i, w in enumerate(ws)}
)


@settings(max_examples=60, deadline=None)
@given(
    arms=ratios,
    multiples=st.sets(st.integers(1, 4), min_size=1, max_size=3),
    n=st.integers(1, 60),
    seed=st.integers(0, 2**63),
    n_sites=st.integers(0, 3),
)
def test_every_complete_block_is_balanced_and_sized_from_the_allowed_set(
    arms: dict[str, int], multiples: set[int], n: int, seed: int, n_sites: int
) -> None:
    sizes = sorted(m * sum(arms.values()) for m in multiples)
    strata = {"site": [f"s{i}" for i in range(n_sites)]} if n_sites else None
    allocation = generate_allocation_list(
        arms=arms, n=n, block_sizes=sizes, seed=seed, strata=strata
    )
    assert len(allocation.entries) == n * max(n_sites, 1)
    _check_permuted_blocks(allocation, arms, sizes, n)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), other=st.integers(0, 2**32))
def test_same_seed_same_list_and_different_seed_different_list(seed: int, other: int) -> None:
    def make(s: int) -> AllocationList:
        return generate_allocation_list(arms=ONE_TO_ONE, n=60, block_sizes=[4, 6, 8], seed=s)

    assert make(seed) == make(seed)
    if other != seed:
        # 60 entries in blocks of 4-8 allow far more than 10^15 lists; a collision
        # would mean the seed is not used.
        assert make(seed).entries != make(other).entries


def test_two_to_one_ratio() -> None:
    arms = {"more": 2, "usual_care": 1}
    allocation = generate_allocation_list(arms=arms, n=301, block_sizes=[3, 6], seed=11)
    _check_permuted_blocks(allocation, arms, [3, 6], 301)
    counts = allocation.counts()["all"]
    # Complete blocks are exactly 2:1, so only the final (partial) block can add imbalance.
    assert abs(counts["more"] - 2 * counts["usual_care"]) <= 4


def test_strata_are_independent_of_each_other() -> None:
    base = generate_allocation_list(
        arms=ONE_TO_ONE,
        n=40,
        block_sizes=[4, 6, 8],
        seed=5,
        strata={"site": ["a", "b"], "sex": ["female", "male"]},
    )
    changed = generate_allocation_list(
        arms=ONE_TO_ONE,
        n=40,
        block_sizes=[4, 6, 8],
        seed=5,
        strata={"site": ["a", "c", "d"], "sex": ["female", "male"]},
    )
    assert base.stratum_keys == (
        "site=a|sex=female",
        "site=a|sex=male",
        "site=b|sex=female",
        "site=b|sex=male",
    )
    # Changing the levels of site leaves site=a's sequences exactly as they were ...
    for key in ("site=a|sex=female", "site=a|sex=male"):
        assert base.for_stratum(key) == changed.for_stratum(key)
    # ... while different strata do get different sequences.
    arms_of = {k: [e.arm for e in base.for_stratum(k)] for k in base.stratum_keys}
    assert len({tuple(v) for v in arms_of.values()}) == 4


def test_block_sizes_are_drawn_uniformly_and_orders_are_uniform() -> None:
    allocation = generate_allocation_list(arms=ONE_TO_ONE, n=6000, block_sizes=[4, 6, 8], seed=3)
    blocks = list(_blocks(allocation).values())[:-1]  # drop the possibly partial last block
    size_counts = Counter(b[0].block_size for b in blocks)
    assert set(size_counts) == {4, 6, 8}
    assert stats.chisquare([size_counts[4], size_counts[6], size_counts[8]]).pvalue > 0.001
    # All C(4,2) = 6 orders of a block of 4 should appear about equally often.
    orders = Counter(tuple(e.arm for e in b) for b in blocks if len(b) == 4)
    assert len(orders) == 6
    assert stats.chisquare(list(orders.values())).pvalue > 0.001


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"block_sizes": [4, 5]},
            "block size\\(s\\) 5 are not multiples of 2, the sum of the ratio 1:1",
        ),
        (
            {"arms": {"a": 2, "b": 1}, "block_sizes": [4, 6]},
            "block size\\(s\\) 4 are not multiples of 3",
        ),
        ({"n": 0}, "n \\(entries per stratum\\) must be a positive whole number, got 0"),
        ({"n": -3}, "got -3"),
        ({"seed": -1}, "seed must be a whole number ≥ 0"),
        ({"arms": {"a": 1}}, "need at least two arms"),
        ({"arms": {"a": 1, "b": 0}}, "ratio of arm 'b' must be a positive whole number"),
        ({"block_sizes": []}, "block_sizes must list at least one size"),
        ({"block_sizes": [4, 4]}, "repeats a size"),
        ({"strata": {"site": []}}, "needs a list of levels"),
        ({"strata": {"site": "ab"}}, "needs a list of levels"),
        ({"strata": {"site": ["a|b"]}}, "must not contain"),
        ({"strata": {"site": ["a", "a"]}}, "repeats a level"),
        ({"arms": {"a=1": 1, "b": 1}}, "arm id 'a=1' must not contain"),
    ],
)
def test_invalid_options_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"arms": ONE_TO_ONE, "n": 10, "block_sizes": [4, 6, 8], "seed": 1}
    options.update(kwargs)
    with pytest.raises(AllocationListError, match=message):
        generate_allocation_list(**options)  # type: ignore[arg-type]


def _stratified() -> AllocationList:
    return generate_allocation_list(
        arms=ONE_TO_ONE,
        n=13,
        block_sizes=[4, 6, 8],
        seed=2025,
        strata={"site": ["boston", "denver"], "sex": ["female", "male"]},
    )


def test_mindtrial_csv_round_trip(tmp_path: Path) -> None:
    allocation = _stratified()
    path = tmp_path / "list.csv"
    write_allocation_csv(allocation, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "stratum,site,sex,sequence,block,block_size,arm"
    first = allocation.entries[0]
    assert lines[1] == (f"site=boston|sex=female,boston,female,1,1,{first.block_size},{first.arm}")
    back = read_allocation_csv(path, arms=["recovery_support", "mrocc"])
    assert back.arms == ("recovery_support", "mrocc")
    assert back.entries == allocation.entries
    assert back.strata == allocation.strata
    assert back.n_per_stratum == 13
    assert back.seed is None
    with pytest.raises(AllocationListError, match=r"line 2, column 'arm': '.*' is not one of more"):
        read_allocation_csv(path, arms=["more", "usual_care"])


def test_redcap_allocation_table_round_trip(tmp_path: Path) -> None:
    allocation = _stratified()
    path = tmp_path / "redcap.csv"
    sex_codes = {"sex": {"female": "1", "male": "2"}}
    write_redcap_allocation_csv(allocation, path, strata_codes=sex_codes)
    lines = path.read_text().splitlines()
    assert lines[0] == "redcap_randomization_group,site,sex"
    assert len(lines) == 1 + 4 * 13
    code = {"mrocc": "1", "recovery_support": "2"}
    assert lines[1:14] == [
        f"{code[e.arm]},boston,1" for e in allocation.for_stratum("site=boston|sex=female")
    ]
    back = read_redcap_allocation_csv(
        path, arm_codes={1: "mrocc", 2: "recovery_support"}, strata_codes=sex_codes
    )
    assert [(e.stratum, e.sequence, e.arm) for e in back.entries] == [
        (e.stratum, e.sequence, e.arm) for e in allocation.entries
    ]
    assert {e.block for e in back.entries} == {None}


def test_reading_a_hand_written_redcap_table(tmp_path: Path) -> None:
    # As exported from REDCap: rows of two strata interleaved, plus the optional number column.
    path = tmp_path / "from_redcap.csv"
    path.write_text(
        "redcap_randomization_number,redcap_randomization_group,redcap_data_access_group\n"
        "101,2,7\n102,1,8\n103,1,7\n104,1,8\n105,2,8\n106,2,7\n"
    )
    table = read_redcap_allocation_csv(
        path,
        arm_codes={1: "more", 2: "usual_care"},
        strata_codes={"redcap_data_access_group": {"camden": "7", "newark": "8"}},
    )
    assert table.strata == (("redcap_data_access_group", ("camden", "newark")),)
    assert [(e.stratum, e.sequence, e.arm) for e in table.entries] == [
        ("redcap_data_access_group=camden", 1, "usual_care"),
        ("redcap_data_access_group=camden", 2, "more"),
        ("redcap_data_access_group=camden", 3, "usual_care"),
        ("redcap_data_access_group=newark", 1, "more"),
        ("redcap_data_access_group=newark", 2, "more"),
        ("redcap_data_access_group=newark", 3, "usual_care"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stratum,sequence,arm\nall,1,a\n", "missing column\\(s\\) block, block_size"),
        (
            "stratum,sequence,block,block_size,arm\nall,x,1,4,a\n",
            "line 2, column 'sequence': expected a whole number, got 'x'",
        ),
        ("stratum,sequence,block,block_size,arm\nall,1,1,4,a\nall,3,1,4,b\n", "expected 1, 2, 3"),
        (
            "stratum,site,sequence,block,block_size,arm\nsite=b,a,1,1,4,x\n",
            "line 2: column 'stratum' is 'site=b'",
        ),
        ("stratum,sequence,block,block_size,arm\n", "has a header but no rows"),
        ("", "is empty"),
    ],
)
def test_bad_mindtrial_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(AllocationListError, match=message):
        read_allocation_csv(path)


def test_bad_redcap_files_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("redcap_randomization_group,site\n1,a\n3,a\n")
    with pytest.raises(
        AllocationListError, match="line 3, column 'redcap_randomization_group': code '3'"
    ):
        read_redcap_allocation_csv(path, arm_codes={1: "a", 2: "b"})
    path.write_text("group,site\n1,a\n")
    with pytest.raises(AllocationListError, match="no 'redcap_randomization_group' column"):
        read_redcap_allocation_csv(path, arm_codes={1: "a", 2: "b"})
    path.write_text("redcap_randomization_group,site,sex\n1,a,1\n2,a,2\n1,b,1\n")
    with pytest.raises(AllocationListError, match="no rows for stratum site=b\\|sex=2"):
        read_redcap_allocation_csv(path, arm_codes={1: "a", 2: "b"})


def test_writes_are_all_or_nothing(tmp_path: Path) -> None:
    allocation = _stratified()
    with pytest.raises(AllocationListError, match="does not exist"):
        write_allocation_csv(allocation, tmp_path / "missing" / "list.csv")
    target = tmp_path / "list.csv"
    target.write_text("previous\n")
    with pytest.raises(AllocationListError, match="exactly one code"):
        write_redcap_allocation_csv(allocation, target, arm_codes={1: "mrocc"})
    assert target.read_text() == "previous\n"
    assert list(tmp_path.iterdir()) == [target]


def test_counts_per_stratum_and_arm() -> None:
    allocation = _stratified()
    counts = allocation.counts()
    assert list(counts) == list(allocation.stratum_keys)
    for key, by_arm in counts.items():
        arms = [e.arm for e in allocation.for_stratum(key)]
        assert by_arm == {arm: arms.count(arm) for arm in ("mrocc", "recovery_support")}
        # 13 entries: complete blocks are balanced, the partial one is off by at most 4.
        assert abs(by_arm["mrocc"] - by_arm["recovery_support"]) <= 4
    assert list(itertools.chain.from_iterable(allocation.for_stratum(k) for k in counts)) == list(
        allocation.entries
    )
