"""Pull a REDCap project through REDCap's API into the files the reader takes.

Every request is a form POST of ``token``, ``content`` and ``format`` (REDCap's API, as
documented on every REDCap server under "API Documentation"). What is pulled:

==============================  ===========================================================
file                            request
==============================  ===========================================================
``project.json``                ``content=project`` (title, longitudinal, missing codes ...)
``dictionary.csv``              ``content=metadata``
``event.csv``, ``arm.csv``      ``content=event`` / ``content=arm`` (longitudinal only)
``form_event_mapping.csv``      ``content=formEventMapping`` (longitudinal only)
``repeating.csv``               ``content=repeatingFormsEvents`` (when the project repeats)
``dag.csv``                     ``content=dag``
``records.csv``                 ``content=record``, ``type=flat|eav``, ``rawOrLabel=raw``,
                                in batches of record ids (``records[i]=...``)
``project.xml``                 ``content=project_xml``, ``returnMetadataOnly=true``
==============================  ===========================================================

The token never appears in a message, a log or a file. Transient failures (a timeout, a
refused connection, HTTP 429 or 5xx) are retried with a growing pause; anything else stops
the pull with REDCap's own error text.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mindtrial.interop.redcap.types import RedcapFormatError

TOKEN_ENV = "MINDTRIAL_REDCAP_TOKEN"
_TOKEN = re.compile(r"[0-9A-Fa-f]{32}|[0-9A-Fa-f]{64}")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})

Progress = Callable[[int, int], None]  # (records done, records in all)


class RedcapApiError(RuntimeError):
    """The REDCap server refused a request or could not be reached (the token is not shown)."""


def read_token(token_file: Path | None, *, env: Mapping[str, str] | None = None) -> str:
    """The API token from ``token_file`` or else the ``MINDTRIAL_REDCAP_TOKEN`` variable.

    REDCap tokens are 32 hexadecimal characters (64 for a super token)."""
    environ = os.environ if env is None else env
    if token_file is not None:
        if token_file.is_dir():
            raise RedcapFormatError(f"token file {token_file} is a folder")
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise RedcapFormatError(f"token file {token_file} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RedcapFormatError(f"token file {token_file} cannot be read: {exc}") from None
        where = f"token file {token_file}"
    else:
        token = environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise RedcapFormatError(f"give --token-file FILE or set {TOKEN_ENV}")
        where = TOKEN_ENV
    if not _TOKEN.fullmatch(token):
        raise RedcapFormatError(
            f"{where} does not hold a REDCap API token (32 or 64 hexadecimal characters)"
        )
    return token


@dataclass
class RedcapClient:
    """A REDCap API endpoint (``https://.../api/``) and a project's token."""

    url: str
    token: str = field(repr=False)
    timeout: float = 60.0
    retries: int = 3
    pause: float = 1.0  # seconds before the first retry; doubled each time

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise RedcapFormatError(
                f"--url {self.url!r} is not an http(s) address of a REDCap API (it ends in /api/)"
            )

    def post(self, content: str, **params: str) -> bytes:
        """One API request; the body REDCap answers with."""
        form = {"token": self.token, "content": content, "returnFormat": "json", **params}
        body = urllib.parse.urlencode(form).encode()
        attempt = 0
        while True:
            attempt += 1
            request = urllib.request.Request(
                self.url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    data: bytes = response.read()
                    return data
            except urllib.error.HTTPError as exc:
                text = _error_text(exc.read())
                if exc.code in _RETRY_STATUS and attempt <= self.retries:
                    time.sleep(self.pause * 2 ** (attempt - 1))
                    continue
                raise RedcapApiError(
                    f"REDCap answered {exc.code} to content={content}: {text}"
                ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt <= self.retries:
                    time.sleep(self.pause * 2 ** (attempt - 1))
                    continue
                reason = getattr(exc, "reason", exc)
                raise RedcapApiError(
                    f"cannot reach {self.url} (content={content}, {attempt} tries): {reason}"
                ) from None

    def text(self, content: str, **params: str) -> str:
        try:
            return self.post(content, **params).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise RedcapApiError(f"REDCap's answer to content={content} is not UTF-8") from None


def _error_text(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:300] or "(no message)"
    if isinstance(parsed, dict) and "error" in parsed:
        return str(parsed["error"])
    return text[:300]


@dataclass(frozen=True)
class PullResult:
    files: dict[str, str]  # file name -> text, ready to write
    records: int
    rows: int
    notes: tuple[str, ...] = ()


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def pull_project(
    client: RedcapClient,
    *,
    record_format: Literal["flat", "eav"] = "flat",
    batch_size: int = 200,
    progress: Progress | None = None,
) -> PullResult:
    """Everything the reader needs from one project; nothing is written here."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    files: dict[str, str] = {}
    notes: list[str] = []
    info_text = client.text("project", format="json")
    try:
        info = json.loads(info_text)
    except ValueError:
        raise RedcapApiError("REDCap's project information is not JSON") from None
    if not isinstance(info, dict):
        raise RedcapApiError("REDCap's project information is not a JSON object")
    files["project.json"] = json.dumps(info, ensure_ascii=False, indent=2) + "\n"
    metadata = client.text("metadata", format="csv")
    fields = _csv_rows(metadata)
    if not fields or "field_name" not in fields[0]:
        raise RedcapApiError("REDCap's metadata answer is not a data dictionary")
    files["dictionary.csv"] = metadata
    record_id = fields[0]["field_name"]
    if str(info.get("is_longitudinal", "0")) == "1":
        files["event.csv"] = client.text("event", format="csv")
        files["arm.csv"] = client.text("arm", format="csv")
        files["form_event_mapping.csv"] = client.text("formEventMapping", format="csv")
    if str(info.get("has_repeating_instruments_or_events", "0")) == "1":
        files["repeating.csv"] = client.text("repeatingFormsEvents", format="csv")
    files["dag.csv"] = client.text("dag", format="csv")
    files["project.xml"] = client.text("project_xml", returnMetadataOnly="true")

    ids_text = client.text(
        "record", format="csv", type="flat", rawOrLabel="raw", **{"fields[0]": record_id}
    )
    ids = list(dict.fromkeys(r[record_id] for r in _csv_rows(ids_text) if r.get(record_id)))
    pieces: list[str] = []
    header = ""
    done = 0
    if progress is not None:
        progress(0, len(ids))
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        params = {f"records[{i}]": rid for i, rid in enumerate(batch)}
        text = client.text(
            "record",
            format="csv",
            type=record_format,
            rawOrLabel="raw",
            rawOrLabelHeaders="raw",
            exportDataAccessGroups="true",
            exportSurveyFields="true",
            **params,
        )
        first, _, rest = text.partition("\n")
        if not header:
            header = first
        elif first != header:
            raise RedcapApiError("REDCap answered two record batches with different columns")
        pieces.append(rest if rest.endswith("\n") or not rest else rest + "\n")
        done += len(batch)
        if progress is not None:
            progress(done, len(ids))
    files["records.csv"] = (header + "\n" + "".join(pieces)) if header else "\n"
    rows = sum(1 for _ in csv.reader(io.StringIO("".join(pieces), newline="")))
    codes = str(info.get("missing_data_codes") or "").strip()
    if codes:
        notes.append(f"the project declares missing-data codes: {codes}")
    return PullResult(files=files, records=len(ids), rows=rows, notes=tuple(notes))


def missing_codes_of(project_json: str) -> tuple[str, ...]:
    """The codes of ``missing_data_codes`` ("UNK, Unknown | NASK, Not asked") in project.json."""
    info = json.loads(project_json)
    text = str(info.get("missing_data_codes") or "") if isinstance(info, dict) else ""
    return tuple(
        item.partition(",")[0].strip() for item in text.split("|") if item.partition(",")[0].strip()
    )
