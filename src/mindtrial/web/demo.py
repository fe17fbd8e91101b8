"""The web half of ``mindtrial demo``: a study with a simulated trial and one login per role.

Everything goes through the app's own services (audited), exactly as an operator's
``mindtrial study create`` + ``mindtrial load`` + ``mindtrial user add`` would.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction

from mindtrial.dataset import StudyDataset
from mindtrial.web.accounts.actors import SystemActor
from mindtrial.web.accounts.models import Role
from mindtrial.web.accounts.services import user_create
from mindtrial.web.exports.services import LoadSummary, dataset_load
from mindtrial.web.studies.models import Study
from mindtrial.web.studies.services import study_access_grant, study_create

DEMO = SystemActor("mindtrial demo")
"""The demo builder acts as the operator who ran ``mindtrial demo``."""


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    role_label: str
    password: str


@dataclass(frozen=True)
class DemoSite:
    study_id: int
    study_name: str
    summary: LoadSummary
    logins: tuple[DemoLogin, ...]


def demo_site_create(*, protocol_id: str, name: str, dataset: StudyDataset) -> DemoSite:
    """Create the study, load ``dataset`` into it and add one user per role.

    Passwords are random for each run (printed once by the demo, never stored in the repo).
    """
    with transaction.atomic():
        study: Study = study_create(acting_user=DEMO, protocol_id=protocol_id, name=name)
        summary = dataset_load(acting_user=DEMO, study=study, dataset=dataset)
        logins = []
        for role in Role:
            username = f"demo-{role.value.replace('_', '-')}"
            password = f"{role.value[:4]}-{secrets.token_urlsafe(9)}"
            user = user_create(acting_user=DEMO, username=username, password=password, role=role)
            study_access_grant(acting_user=DEMO, user=user, study=study)
            logins.append(DemoLogin(username, role.value, str(role.label), password))
    return DemoSite(study.pk, name, summary, tuple(logins))
