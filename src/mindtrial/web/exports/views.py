"""The download page: the study dataset and the standard formats (masked for blinded roles).

``/studies/<id>/export/`` shows the page and, on POST, sends the format chosen in the form
(the study dataset by default); ``/studies/<id>/export/<format>/`` sends that format on POST.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render

from mindtrial.web.common import ServiceError
from mindtrial.web.exports.formats import (
    FORMAT_LABELS,
    ExportFiles,
    ExportFormat,
    study_export_files,
)
from mindtrial.web.exports.selectors import (
    MASKED_EXPORTERS,
    require_exporter,
    study_export_checked,
)
from mindtrial.web.studies.selectors import access_study_by_id
from mindtrial.web.viewutils import AuthedRequest, require_role, staff_view

_CONTENT_TYPES = {
    ExportFormat.ODM: "application/xml",
    ExportFormat.REPORT: "text/html; charset=utf-8",
}


def _response(files: ExportFiles, name: str, folder: str) -> HttpResponse:
    """One file as itself; several as a zip (stored, not deflated, for the binary formats)."""
    if len(files.files) == 1 and files.format in _CONTENT_TYPES:
        path = files.files[0]
        response = HttpResponse(path.read_bytes(), content_type=_CONTENT_TYPES[files.format])
        filename = path.name
    else:
        buffer = io.BytesIO()
        method = (
            zipfile.ZIP_DEFLATED if files.format is ExportFormat.DATASET else zipfile.ZIP_STORED
        )
        with zipfile.ZipFile(buffer, "w", method) as archive:
            for path in files.files:
                archive.write(path, arcname=f"{folder}/{path.name}")
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        filename = f"{name}.zip"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@staff_view
def download(request: AuthedRequest, study_id: int, fmt: str = "") -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    require_role(request.user, MASKED_EXPORTERS)
    try:
        require_exporter(request.user, masked=False)
        may_unmask = True
    except ServiceError:
        may_unmask = False
    if request.method == "POST":
        masked = request.POST.get("masked") == "1" or not may_unmask
        chosen = fmt or request.POST.get("format") or ExportFormat.DATASET
        try:
            export_format = ExportFormat(chosen)
        except ValueError:
            messages.error(request, "Choose one of the formats listed.")
        else:
            with tempfile.TemporaryDirectory() as folder:
                name = f"study-{study.pk}{'-masked' if masked else ''}"
                if export_format is not ExportFormat.DATASET:
                    name += f"-{export_format.value}"
                try:
                    files = study_export_files(
                        acting_user=request.user,
                        study=study,
                        folder=Path(folder) / name,
                        format=export_format,
                        masked=masked,
                    )
                except ServiceError as exc:
                    messages.error(request, str(exc))
                else:
                    dataset = export_format is ExportFormat.DATASET
                    response = _response(files, name, f"study-{study.pk}" if dataset else name)
                    # The page lists them before the download; the header counts them.
                    response["X-MindTrial-Left-Out"] = str(len(files.left_out))
                    return response
    try:
        # Checked as this user may export it, so a blinded role sees masked records only.
        left_out = study_export_checked(
            acting_user=request.user, study=study, masked=not may_unmask
        ).left_out
    except ServiceError as exc:
        messages.error(request, str(exc))
        left_out = ()
    return render(
        request,
        "exports/download.html",
        {
            "study": study,
            "may_unmask": may_unmask,
            "formats": list(FORMAT_LABELS.items()),
            "left_out": left_out,
        },
    )
