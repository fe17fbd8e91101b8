"""`mindtrial score`: score one completed instrument from item=value pairs."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mindtrial.cli.common import console, fail

if TYPE_CHECKING:  # the instrument registry (pydantic, YAML) loads when the command runs
    from mindtrial.instruments import Answer, Instrument, ScoreResult


def _parse_pairs(pairs: list[str]) -> dict[str, str]:
    answers: dict[str, str] = {}
    for pair in pairs:
        item, sep, value = pair.partition("=")
        item = item.strip()
        if not sep or not item:
            fail(f"expected ITEM=VALUE, got {pair!r} (for example EDANX01=3)")
        if item in answers:
            fail(f"item {item} is given twice ({answers[item]!r} and {value!r})")
        answers[item] = value
    return answers


def _show_list() -> None:
    from mindtrial.instruments import get_instrument, list_instruments

    table = Table(title="Instruments")
    table.add_column("id", style="bold")
    table.add_column("name")
    table.add_column("items", justify="right")
    table.add_column("scores")
    for instrument_id in list_instruments():
        instrument = get_instrument(instrument_id)
        table.add_row(
            instrument.id,
            instrument.name,
            str(len(instrument.items)),
            ", ".join(instrument.score_ids) or "(answers only)",
        )
    console.print(table)


def _show_items(instrument: Instrument) -> None:
    from mindtrial.instruments import describe_expected

    table = Table(title=f"{instrument.name} ({instrument.id}) — {instrument.recall_period or ''}")
    table.add_column("item", style="bold")
    table.add_column("text")
    table.add_column("answer")
    table.add_column("required")
    for item in instrument.items:
        table.add_row(
            item.id,
            item.text or "(wording withheld: licensed)",
            describe_expected(item),
            "yes" if item.required else "no",
        )
    console.print(table)


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _show_answer(answer: Answer) -> str:
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    if isinstance(answer, dt.date):
        return answer.isoformat()
    return str(answer)


def _show_result(instrument: Instrument, result: ScoreResult) -> None:
    if result.scores:
        table = Table(title=f"{instrument.name} ({instrument.id})")
        table.add_column("score", style="bold")
        table.add_column("value", justify="right")
        table.add_column("band")
        for score_id, value in result.scores.items():
            table.add_row(score_id, _fmt(value), result.bands.get(score_id, ""))
    else:
        table = Table(title=f"{instrument.name} ({instrument.id}): validated answers")
        table.add_column("item", style="bold")
        table.add_column("answer")
        for item_id, answer in result.answers.items():
            table.add_row(item_id, _show_answer(answer))
    console.print(table)
    console.print(f"answered: {result.answered} of {len(instrument.items)} items")
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score_command(
        instrument_id: Annotated[
            str | None,
            typer.Argument(
                metavar="INSTRUMENT", help="Instrument id (see --list).", show_default=False
            ),
        ] = None,
        pairs: Annotated[
            list[str] | None,
            typer.Argument(
                metavar="ITEM=VALUE...", help="Answers, e.g. EDANX01=3.", show_default=False
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
        prorate: Annotated[
            bool,
            typer.Option(
                "--prorate",
                help="Apply the instrument's documented proration rule (PROMIS: >= half answered).",
            ),
        ] = False,
        list_all: Annotated[bool, typer.Option("--list", help="List the instruments.")] = False,
        show_items: Annotated[
            bool, typer.Option("--items", help="Show INSTRUMENT's items and what each accepts.")
        ] = False,
    ) -> None:
        """Score one completed instrument from ITEM=VALUE answers.

        Exit codes: 0 scored, 1 unknown instrument or a bad, missing or unknown answer.
        """
        from mindtrial.instruments import ScoringError, get_instrument, score

        if list_all:
            _show_list()
            return
        if instrument_id is None:
            fail("give an instrument id (mindtrial score --list shows them)")
        try:
            instrument = get_instrument(instrument_id)
        except KeyError as exc:
            fail(str(exc.args[0]))
        if show_items:
            _show_items(instrument)
            return
        answers = _parse_pairs(pairs or [])
        try:
            result = score(instrument.id, answers, prorate=prorate)
        except ScoringError as exc:
            fail(str(exc))
        if as_json:
            console.print(
                json.dumps(result.to_dict(), indent=2, ensure_ascii=False),
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        else:
            _show_result(instrument, result)
