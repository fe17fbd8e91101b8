"""`mindtrial randomization-list`, run in-process on the shipped M-ROCC protocol."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.design.randomization import read_allocation_csv, read_redcap_allocation_csv
from mindtrial.protocols import load_protocol

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["randomization-list", *args])
    # Never a traceback: only clean exits.
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


def test_writes_the_mrocc_list_from_the_protocol(tmp_path: Path) -> None:
    out = tmp_path / "mrocc.csv"
    code, output = _run(
        "--protocol", "mrocc-2025", "--n", "30", "--seed", "20210121", "--out", str(out)
    )
    assert code == 0, output
    allocation = read_allocation_csv(out)
    assert len(allocation.entries) == 30
    assert set(allocation.arms) == {"mrocc", "recovery_support"}
    blocks: dict[int, list[str]] = {}
    for entry in allocation.entries:
        assert entry.block_size in {4, 6, 8}  # the protocol's block sizes
        assert entry.block is not None
        blocks.setdefault(entry.block, []).append(entry.arm)
    for number, arms in blocks.items():
        size = allocation.entries[[e.block for e in allocation.entries].index(number)].block_size
        if len(arms) == size:
            assert Counter(arms) == {"mrocc": size // 2, "recovery_support": size // 2}
    counts = Counter(e.arm for e in allocation.entries)
    # The summary table shows the counts in the file.
    row = next(line for line in output.splitlines() if line.strip("│ ").startswith("all "))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[:4] == ["all", str(counts["mrocc"]), str(counts["recovery_support"]), "30"]
    assert "seed 20210121" in output


def test_same_seed_gives_the_same_file(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    for path, seed in ((a, "9"), (b, "9"), (c, "10")):
        code, output = _run(
            "--protocol", "mrocc-2025", "--n", "40", "--seed", seed, "--out", str(path)
        )
        assert code == 0, output
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_redcap_format_and_strata(tmp_path: Path) -> None:
    out = tmp_path / "redcap.csv"
    code, output = _run(
        "--protocol", "mrocc-2025", "--n", "12", "--seed", "1",
        "--strata", "site=1,2", "--strata", "sex=1,2,3",
        "--out", str(out), "--format", "redcap",
    )  # fmt: skip
    assert code == 0, output
    assert out.read_text().splitlines()[0] == "redcap_randomization_group,site,sex"
    table = read_redcap_allocation_csv(out, arm_codes={1: "mrocc", 2: "recovery_support"})
    assert len(table.stratum_keys) == 6
    assert len(table.entries) == 6 * 12
    assert "1 = mrocc" in output
    assert "does not list" in output  # M-ROCC's protocol has no strata: the user is told


def test_bad_input_is_a_clear_error_without_traceback(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    code, output = _run("--protocol", "mrocc-2025", "--n", "0", "--seed", "1", "--out", str(out))
    assert (code, "n (entries per stratum) must be a positive whole number, got 0") == (
        1,
        " ".join(output.split()).removeprefix("error: "),
    )
    assert not out.exists()
    code, output = _run("--protocol", "no-such-trial", "--n", "4", "--seed", "1", "--out", str(out))
    assert code == 1
    assert "no-such-trial" in output and "unknown protocol" in output
    code, output = _run(
        "--protocol", "mrocc-2025", "--n", "4", "--seed", "1", "--strata", "site", "--out", str(out)
    )
    assert code == 1
    assert "expected FIELD=LEVEL1,LEVEL2" in output


def test_an_existing_list_is_not_overwritten_without_force(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    out.write_text("do not lose me\n")
    code, output = _run("--protocol", "mrocc-2025", "--n", "4", "--seed", "1", "--out", str(out))
    assert code == 1
    assert "already exists" in output
    assert out.read_text() == "do not lose me\n"
    code, _ = _run(
        "--protocol", "mrocc-2025", "--n", "4", "--seed", "1", "--out", str(out), "--force"
    )
    assert code == 0
    assert out.read_text().startswith("stratum,sequence,block,block_size,arm\n")


def test_a_stratified_protocol_requires_its_strata(tmp_path: Path) -> None:
    protocol = load_protocol("mrocc-2025")
    data = protocol.model_dump(mode="json")
    data["randomization"]["strata"] = ["site"]
    path = tmp_path / "stratified.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "x.csv"
    code, output = _run("--protocol", str(path), "--n", "4", "--seed", "1", "--out", str(out))
    assert code == 1
    assert "stratifies by site" in output
    code, output = _run(
        "--protocol",
        str(path),
        "--n",
        "4",
        "--seed",
        "1",
        "--strata",
        "site=a,b",
        "--out",
        str(out),
    )
    assert code == 0, output
    assert read_allocation_csv(out).stratum_keys == ("site=a", "site=b")
