"""A local HTTP server that answers REDCap API requests from a sample project's files.

It follows the request parameters of REDCap's API documentation (a form POST of ``token``,
``content``, ``format``; ``type=flat|eav``, ``records[i]``, ``fields[i]`` for records) and
builds each answer from the project's own export files in ``tests/interop/data``: the data
dictionary (with the API's header), event.csv, arm.csv, data.csv and project.xml.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
RC = "{https://projectredcap.org}"
TOKEN = "0123456789ABCDEF0123456789ABCDEF"
API_HEADER = [
    "field_name", "form_name", "section_header", "field_type", "field_label",
    "select_choices_or_calculations", "field_note", "text_validation_type_or_show_slider_number",
    "text_validation_min", "text_validation_max", "identifier", "branching_logic",
    "required_field", "custom_alignment", "question_number", "matrix_group_name",
    "matrix_ranking", "field_annotation",
]  # fmt: skip


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@dataclass
class Replay:
    folder: Path
    missing_codes: str = ""
    fail_record_requests: int = 0  # answer this many record requests with 503 first
    requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.xml = ET.parse(self.folder / "project.xml").getroot()
        with (self.folder / "data.csv").open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            self.columns = list(reader.fieldnames or [])
            self.rows = list(reader)

    def answer(self, form: dict[str, str]) -> tuple[int, str, str]:
        self.requests.append(form)
        if form.get("token") != TOKEN:
            return (
                403,
                "application/json",
                '{"error": "You do not have permissions to use the API"}',
            )
        content = form.get("content", "")
        handler = getattr(self, f"_{content}", None)
        if handler is None:
            return 400, "application/json", json.dumps({"error": f"unknown content {content}"})
        result: tuple[int, str, str] = handler(form)
        return result

    def _globals(self) -> ET.Element:
        gv = self.xml.find(f"{ODM}Study/{ODM}GlobalVariables")
        assert gv is not None
        return gv

    def _project(self, form: dict[str, str]) -> tuple[int, str, str]:
        gv = self._globals()
        info = {
            "project_title": gv.findtext(f"{ODM}StudyName") or "",
            "is_longitudinal": 1 if (self.folder / "event.csv").exists() else 0,
            "has_repeating_instruments_or_events": 1
            if gv.find(f".//{RC}RepeatingInstrument") is not None
            else 0,
            "missing_data_codes": self.missing_codes,
        }
        return 200, "application/json", json.dumps(info)

    def _metadata(self, form: dict[str, str]) -> tuple[int, str, str]:
        with (self.folder / "dictionary.csv").open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))[1:]
        return 200, "text/csv", _csv(API_HEADER, rows)

    def _file(self, name: str) -> tuple[int, str, str]:
        return 200, "text/csv", (self.folder / name).read_text(encoding="utf-8")

    def _event(self, form: dict[str, str]) -> tuple[int, str, str]:
        return self._file("event.csv")

    def _arm(self, form: dict[str, str]) -> tuple[int, str, str]:
        return self._file("arm.csv")

    def _formEventMapping(self, form: dict[str, str]) -> tuple[int, str, str]:
        rows = [
            [
                ev.get(f"{RC}ArmNum", "1"),
                ev.get(f"{RC}UniqueEventName", ""),
                ref.get(f"{RC}FormName", ""),
            ]
            for ev in self.xml.iter(f"{ODM}StudyEventDef")
            for ref in ev.iter(f"{ODM}FormRef")
        ]
        return 200, "text/csv", _csv(["arm_num", "unique_event_name", "form"], rows)

    def _repeatingFormsEvents(self, form: dict[str, str]) -> tuple[int, str, str]:
        rows = [
            [
                r.get(f"{RC}UniqueEventName", ""),
                r.get(f"{RC}RepeatInstrument", ""),
                r.get(f"{RC}CustomLabel", ""),
            ]
            for r in self.xml.iter(f"{RC}RepeatingInstrument")
        ]
        return 200, "text/csv", _csv(["event_name", "form_name", "custom_form_label"], rows)

    def _dag(self, form: dict[str, str]) -> tuple[int, str, str]:
        rows = [
            [d.get("group_name", ""), d.get("group_name", "")]
            for d in self.xml.iter(f"{RC}DataAccessGroups")
        ]
        return 200, "text/csv", _csv(["data_access_group_name", "unique_group_name"], rows)

    def _project_xml(self, form: dict[str, str]) -> tuple[int, str, str]:
        return 200, "text/xml", (self.folder / "project.xml").read_text(encoding="utf-8")

    def _record(self, form: dict[str, str]) -> tuple[int, str, str]:
        if self.fail_record_requests > 0:
            self.fail_record_requests -= 1
            return 503, "text/plain", "Service Unavailable"
        wanted_ids = [v for k, v in sorted(form.items()) if k.startswith("records[")]
        wanted_fields = [v for k, v in form.items() if k.startswith("fields[")]
        rid = self.columns[0]
        rows = [r for r in self.rows if not wanted_ids or r[rid] in wanted_ids]
        if wanted_fields:
            cols = [c for c in self.columns if c in wanted_fields]
            return 200, "text/csv", _csv(cols, [[r[c] for c in cols] for r in rows])
        if form.get("type", "flat") == "eav":
            keys = [
                c
                for c in ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance")
                if c in self.columns
            ]
            out = []
            for r in rows:
                for col in self.columns:
                    if col == rid or col in keys or r[col] == "":
                        continue
                    base, sep, code = col.partition("___")
                    if sep:  # EAV lists a checked option as the checkbox's row with its code
                        if r[col] == "1":
                            out.append([r[rid], *[r[k] for k in keys], base, code])
                        continue
                    out.append([r[rid], *[r[k] for k in keys], col, r[col]])
            return 200, "text/csv", _csv(["record", *keys, "field_name", "value"], out)
        return 200, "text/csv", _csv(self.columns, [[r[c] for c in self.columns] for r in rows])


@contextmanager
def serve(replay: Replay) -> Iterator[str]:
    """Run the replay on a free local port; yields the API address."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
            status, kind, text = replay.answer(form)
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
