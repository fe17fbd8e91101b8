"""`mindtrial randomization-list`: write a protocol's concealed allocation list to CSV."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mindtrial.cli.common import console, fail

if TYPE_CHECKING:
    from mindtrial.design.randomization import AllocationList
    from mindtrial.protocols import Protocol


class ListFormat(enum.StrEnum):
    mindtrial = "mindtrial"
    redcap = "redcap"


def parse_strata(options: list[str]) -> dict[str, list[str]]:
    """``["site=a,b", "sex=female,male"]`` -> ``{"site": ["a", "b"], ...}``."""
    strata: dict[str, list[str]] = {}
    for option in options:
        field, sep, levels_text = option.partition("=")
        field = field.strip()
        levels = [level.strip() for level in levels_text.split(",")]
        if not sep or not field or not all(levels):
            fail(
                f"--strata {option!r}: expected FIELD=LEVEL1,LEVEL2 (for example "
                "site=boston,denver) with no empty levels"
            )
        if field in strata:
            fail(f"--strata gives field {field!r} twice; list all its levels in one option")
        strata[field] = levels
    return strata


def _check_strata_against_protocol(protocol: Protocol, strata: dict[str, list[str]]) -> None:
    required = protocol.randomization.strata
    absent = [field for field in required if field not in strata]
    if absent:
        fail(
            f"protocol {protocol.id} stratifies by {', '.join(required)}; give the levels of "
            + ", ".join(absent)
            + " with --strata FIELD=LEVEL1,LEVEL2"
        )
    extra = [field for field in strata if field not in required]
    if extra:
        listed = ", ".join(required) or "none"
        console.print(
            f"[yellow]note:[/] stratifying by {', '.join(extra)}, which protocol {protocol.id} "
            f"does not list (its strata: {listed})",
            highlight=False,
        )


def _summary(allocation: AllocationList, protocol: Protocol, out: Path, fmt: ListFormat) -> None:
    from mindtrial.design.randomization import redcap_arm_codes

    labels = {arm.id: arm.label for arm in protocol.arms}
    table = Table(title=f"Allocation list for {protocol.id} ({len(allocation.entries)} entries)")
    table.add_column("stratum")
    for arm in allocation.arms:
        table.add_column(arm, justify="right")
    table.add_column("total", justify="right")
    table.add_column("blocks", justify="right")
    totals = dict.fromkeys(allocation.arms, 0)
    for key, counts in allocation.counts().items():
        blocks = {e.block for e in allocation.entries if e.stratum == key}
        for arm, count in counts.items():
            totals[arm] += count
        table.add_row(
            key,
            *(str(counts[arm]) for arm in allocation.arms),
            str(sum(counts.values())),
            str(len(blocks)),
        )
    if len(allocation.stratum_keys) > 1:
        table.add_row(
            "[bold]all strata[/]",
            *(str(totals[arm]) for arm in allocation.arms),
            str(sum(totals.values())),
            "",
        )
    console.print(table)
    ratio = ":".join(str(w) for w in allocation.ratio or ())
    sizes = ", ".join(str(b) for b in allocation.block_sizes or ())
    console.print(
        f"ratio {ratio}, block sizes {sizes}, seed {allocation.seed}, "
        f"{allocation.n_per_stratum} per stratum",
        highlight=False,
    )
    if fmt is ListFormat.redcap:
        codes = ", ".join(
            f"{code} = {arm} ({labels[arm]})"
            for code, arm in redcap_arm_codes(allocation.arms).items()
        )
        console.print(f"REDCap codes for redcap_randomization_group: {codes}", highlight=False)
    console.print(f"wrote {out} ({fmt.value} format)", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("randomization-list")
    def randomization_list_command(
        protocol_id: str = typer.Option(
            ..., "--protocol", metavar="ID", help="Protocol id (a shipped protocol) or file."
        ),
        n: int = typer.Option(..., "--n", help="Entries per stratum (not in total)."),
        seed: int = typer.Option(..., "--seed", help="Seed; the same seed gives the same list."),
        strata_options: list[str] = typer.Option(
            [],
            "--strata",
            metavar="FIELD=L1,L2",
            help="Stratification field and its levels; repeat for more fields.",
        ),
        out: Path = typer.Option(..., "--out", help="CSV file to write."),
        fmt: ListFormat = typer.Option(
            ListFormat.mindtrial,
            "--format",
            help="mindtrial (with blocks) or redcap (allocation table to upload).",
        ),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    ) -> None:
        """Write a concealed permuted-block allocation list for a protocol.

        Arms, ratio and block sizes come from the protocol; each block's size is random.

        Keep the file away from recruiting staff (allocation concealment).
        """
        from mindtrial.design.randomization import (
            AllocationListError,
            generate_allocation_list,
            write_allocation_csv,
            write_redcap_allocation_csv,
        )
        from mindtrial.protocols import ProtocolError, load_protocol

        try:
            protocol = load_protocol(protocol_id)
        except ProtocolError as exc:
            fail(str(exc))
        strata = parse_strata(strata_options)
        _check_strata_against_protocol(protocol, strata)
        if out.exists() and not force:
            fail(f"{out} already exists; choose another --out or pass --force to replace it")
        ratio = protocol.randomization.ratio
        try:
            allocation = generate_allocation_list(
                arms={arm.id: ratio[arm.id] for arm in protocol.arms},
                n=n,
                block_sizes=protocol.randomization.block_sizes,
                seed=seed,
                strata=strata or None,
            )
            if fmt is ListFormat.redcap:
                write_redcap_allocation_csv(allocation, out)
            else:
                write_allocation_csv(allocation, out)
        except AllocationListError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
        _summary(allocation, protocol, out, fmt)
