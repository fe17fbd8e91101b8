from __future__ import annotations

from django.urls import path

from mindtrial.web.exports import views
from mindtrial.web.exports.formats import ExportFormat

urlpatterns = [
    path("studies/<int:study_id>/export/", views.download, name="study_export"),
    *(
        path(
            f"studies/<int:study_id>/export/{fmt.value}/",
            views.download,
            {"fmt": fmt.value},
            name=f"study_export_{fmt.value}",
        )
        for fmt in ExportFormat
        if fmt is not ExportFormat.DATASET
    ),
]
