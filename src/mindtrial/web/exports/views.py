"""The download page: the study dataset as a zip (masked for blinded roles)."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render

from mindtrial.dataset import write_dataset
from mindtrial.web.common import ServiceError
from mindtrial.web.exports.services import MASKED_EXPORTERS, require_exporter, study_export
from mindtrial.web.studies.selectors import access_study_by_id
from mindtrial.web.viewutils import AuthedRequest, require_role, staff_view


@staff_view
def download(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    require_role(request.user, MASKED_EXPORTERS)
    try:
        require_exporter(request.user, masked=False)
        may_unmask = True
    except ServiceError:
        may_unmask = False
    if request.method == "POST":
        masked = request.POST.get("masked") == "1" or not may_unmask
        try:
            dataset = study_export(acting_user=request.user, study=study, masked=masked)
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            buffer = io.BytesIO()
            with tempfile.TemporaryDirectory() as folder:
                written = write_dataset(dataset, Path(folder) / "dataset")
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                    for path in sorted(written.iterdir()):
                        archive.write(path, arcname=f"study-{study.pk}/{path.name}")
            name = f"study-{study.pk}{'-masked' if masked else ''}.zip"
            response = HttpResponse(buffer.getvalue(), content_type="application/zip")
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
    return render(request, "exports/download.html", {"study": study, "may_unmask": may_unmask})
