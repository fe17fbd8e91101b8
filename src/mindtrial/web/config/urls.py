"""All URLs. Staff sign in at /accounts/login/; the API lives under /api/."""

from __future__ import annotations

from django.urls import include, path

from mindtrial.web.accounts import views as account_views
from mindtrial.web.api.api import api

urlpatterns = [
    path("accounts/", include(account_views.urlpatterns)),
    path("api/", api.urls),
    path("", include("mindtrial.web.studies.urls")),
    path("", include("mindtrial.web.enrolment.urls")),
    path("", include("mindtrial.web.record.urls")),
    path("", include("mindtrial.web.audit_pages.urls")),
    # Web app II: the weekly programme.
    path("", include("mindtrial.web.programme.urls")),
    path("", include("mindtrial.web.checkin.urls")),
    path("", include("mindtrial.web.toxicology.urls")),
    path("", include("mindtrial.web.safety.urls")),
    path("", include("mindtrial.web.dashboards.urls")),
    path("", include("mindtrial.web.exports.urls")),
    path("", include("mindtrial.web.queries.urls")),
]
