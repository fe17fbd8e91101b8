"""`mindtrial simulate`: write a synthetic study dataset calibrated to a published trial."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mindtrial.cli.common import console, fail

if TYPE_CHECKING:  # the simulator loads when the command runs, not at start-up
    from mindtrial.dataset import StudyDataset
    from mindtrial.protocols import Protocol
    from mindtrial.simulate import Scenario


def summary_table(ds: StudyDataset, protocol: Protocol) -> Table:
    """Participants, completion and records per arm (what was written, at a glance)."""
    table = Table(title=f"Simulated {protocol.short_title} trial ({protocol.id})")
    table.add_column("arm")
    table.add_column("randomized", justify="right")
    table.add_column("completed", justify="right")
    table.add_column("sessions attended", justify="right")
    table.add_column("answers", justify="right")
    table.add_column("tests", justify="right")
    table.add_column("adverse events", justify="right")
    part = ds.participants
    for arm in protocol.arm_ids:
        ids = set(part.loc[part["arm"] == arm, "participant_id"])
        rows = part[part["arm"] == arm]
        n = len(rows)
        completed = int(rows["withdrawn_week"].isna().sum())
        attended = int(
            ds.attendance.loc[ds.attendance["participant_id"].isin(ids), "attended"].sum()
        )
        answers = int(ds.responses["participant_id"].isin(ids).sum())
        tests = ds.toxicology.loc[ds.toxicology["participant_id"].isin(ids)]
        n_tests = int(tests[["participant_id", "week"]].drop_duplicates().shape[0])
        aes = int(ds.adverse_events["participant_id"].isin(ids).sum())
        pct = f" ({100 * completed / n:.0f}%)" if n else ""
        table.add_row(
            arm, str(n), f"{completed}{pct}", str(attended), str(answers), str(n_tests), str(aes)
        )
    return table


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_command(
        protocol_id: str = typer.Option(
            ..., "--protocol", help="Protocol id (a shipped protocol) or a protocol file."
        ),
        out: Path = typer.Option(..., "--out", help="Folder to write the study dataset to."),
        n: int | None = typer.Option(
            None, "--n", help="Participants to randomize (default: the published trial's n)."
        ),
        seed: int = typer.Option(
            1, "--seed", help="Random seed; the same seed gives the same trial."
        ),
        scenario_file: Path | None = typer.Option(
            None, "--scenario", help="YAML file overriding knobs of the default scenario."
        ),
        overwrite: bool = typer.Option(
            False, "--overwrite", help="Replace an existing --out folder."
        ),
    ) -> None:
        """Simulate a trial calibrated to the protocol's published results and write it.

        Writes a complete study dataset (item-level answers, toxicology per analyte,
        attendance, adverse events, screening funnel) to --out. Exit code 1 on bad input.
        """
        from mindtrial.dataset import DatasetError, write_dataset
        from mindtrial.protocols import ProtocolError, load_protocol
        from mindtrial.simulate import ScenarioError, load_scenario, simulate_trial

        try:
            protocol = load_protocol(protocol_id)
        except ProtocolError as exc:
            fail(str(exc))
        if n is not None and n < 2:
            fail(f"--n {n}: need at least 2 participants to randomize")
        if seed < 0:
            fail(f"--seed {seed}: expected a whole number ≥ 0")
        if out.exists() and not overwrite:
            fail(f"--out {out}: already exists (pass --overwrite to replace it)")
        scenario: Scenario | None = None
        try:
            if scenario_file is not None:
                scenario = load_scenario(scenario_file, protocol)
            with console.status("Simulating…"):
                ds = simulate_trial(protocol, n=n, seed=seed, scenario=scenario)
            with console.status(f"Validating and writing {out}…"):
                path = write_dataset(ds, out, protocol=protocol, overwrite=overwrite)
        except ScenarioError as exc:
            fail(str(exc))
        except DatasetError as exc:  # would be a simulator bug; still no traceback
            fail(f"the simulated dataset did not validate:\n{exc}")
        except OSError as exc:
            fail(f"--out {out}: cannot write: {exc}")
        console.print(summary_table(ds, protocol))
        screening = ds.screening
        referred = len(screening)
        console.print(
            f"Referred {referred}, randomized {len(ds.participants)} "
            f"(seed {seed}{', scenario ' + str(scenario_file) if scenario_file else ''})."
        )
        console.print(f"Wrote the study dataset to [bold]{path}[/]")
