"""`mindtrial check --study ID`: the stored records an export would have to leave out.

With ``--open-queries`` it first runs the automatic data checks and opens a data query for
each new finding (see ``web/queries/checks.py``; running it twice opens nothing new).

Exit codes: 0 no problems; 1 a problem with the input (no such study); 3 problems were
found in the data (each is listed: file, record, column and what is wrong).
"""

from __future__ import annotations

import typer

from mindtrial.cli.common import EXIT_OK, console, fail

EXIT_DATA_PROBLEMS = 3
"""``mindtrial check`` found records the study dataset cannot hold."""


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check(
        study: int = typer.Option(
            ..., "--study", help="The study id (see `mindtrial study list`)."
        ),
        open_queries: bool = typer.Option(
            False,
            "--open-queries",
            help="Also run the data checks and open a data query per new finding.",
        ),
    ) -> None:
        """List stored records that break the study dataset's rules (exit 3 if any)."""
        from mindtrial.web.audit.actors import SystemActor
        from mindtrial.web.bootstrap import setup

        setup(migrate=True)
        from mindtrial.web.common import ServiceError
        from mindtrial.web.exports.selectors import study_data_problems
        from mindtrial.web.studies.models import Study

        found = Study.objects.filter(pk=study).first()
        if found is None:
            fail(f"no study with id {study} (see `mindtrial study list`)")
        if open_queries:
            from mindtrial.web.queries.services import queries_run_checks

            run = queries_run_checks(acting_user=SystemActor("cli: mindtrial check"), study=found)
            console.print(
                f"Study {study}: data checks found {run.findings} problem(s); "
                f"{len(run.opened)} new data quer{'y' if len(run.opened) == 1 else 'ies'} opened, "
                f"{run.already_open} already had one.",
                highlight=False,
            )
        try:
            problems = study_data_problems(found)
        except ServiceError as exc:
            fail(str(exc), code=EXIT_DATA_PROBLEMS)
        if not problems:
            console.print(f"Study {study}: no problems found.", highlight=False)
            raise typer.Exit(EXIT_OK)
        console.print(
            f"Study {study}: {len(problems)} record(s) an export leaves out:", highlight=False
        )
        for p in problems:  # one line each, so the list can be searched and diffed
            console.print(f"  - {p}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_DATA_PROBLEMS)
