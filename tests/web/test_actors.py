"""Every write names its actor: a staff user or a system process, never ``None``.

``acting_user=None`` used to mean "the operator, skip every check". Now a service refuses it
(TypeError, before anything is written), the operator's commands act as a named
``SystemActor`` that the audit trail shows, and nothing on the web request path can
construct one.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import inspect
import pkgutil
import types
from pathlib import Path

import grimp
import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client

import mindtrial
import mindtrial.web
from mindtrial.web.accounts.actors import SystemActor
from mindtrial.web.accounts.models import Role
from mindtrial.web.accounts.services import user_create
from mindtrial.web.audit.actors import ParticipantActor
from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.enrolment import services as enrolment
from mindtrial.web.enrolment.models import Participant

from .factories import PASSWORD, SETUP, grant, make_site, make_study, make_user

pytestmark = pytest.mark.django_db

SRC = Path(mindtrial.__file__).parent


def _refer(actor: object) -> Participant:
    study = make_study()
    return enrolment.participant_refer(
        acting_user=actor,  # type: ignore[arg-type]  # the point: a wrong actor at run time
        study=study,
        site=make_site(study),
        referral_source="clinic",
        referral_date=dt.date(2025, 12, 1),
    )


@pytest.mark.parametrize(
    "actor", [None, AnonymousUser(), "operator"], ids=["none", "anonymous_user", "string"]
)
def test_a_service_refuses_anything_but_an_actor_and_writes_nothing(actor: object) -> None:
    before = (Participant.objects.count(), AuditEvent.objects.count())
    with pytest.raises(TypeError, match="acting_user must be a staff User or a SystemActor"):
        _refer(actor)
    # make_study/make_site (the set-up) wrote their own rows; the refusal wrote none.
    assert Participant.objects.count() == before[0]
    assert not AuditEvent.objects.filter(action=AuditAction.REFER).exists()


def test_an_admin_only_service_refuses_none_instead_of_skipping_the_check() -> None:
    with pytest.raises(TypeError):
        user_create(acting_user=None, username="x", password=PASSWORD, role=Role.COORDINATOR)  # type: ignore[arg-type]
    assert not AuditEvent.objects.filter(action=AuditAction.CREATE).exists()


def _web_services() -> list[types.ModuleType]:
    found = []
    for info in pkgutil.walk_packages(mindtrial.web.__path__, "mindtrial.web."):
        if info.name.endswith(".services"):
            found.append(importlib.import_module(info.name))
    return found


def test_no_service_signature_accepts_none_as_the_actor() -> None:
    """The type every service declares for ``acting_user`` (what mypy strict checks at each
    call site) has no ``None`` in it."""
    checked = 0
    for module in _web_services():
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__:
                continue
            parameter = inspect.signature(function).parameters.get("acting_user")
            if parameter is None:
                continue
            # Annotations are strings here (``from __future__ import annotations``).
            members = {part.strip() for part in str(parameter.annotation).split("|")}
            assert "None" not in members, f"{module.__name__}.{name} accepts None"
            assert members & {"Actor", "AuditActor", "User"}, f"{module.__name__}.{name}: {members}"
            checked += 1
    assert checked > 40  # every app's services were looked at


def test_the_system_actor_is_audited_by_name() -> None:
    actor = SystemActor("cli: mindtrial load")
    participant = _refer(actor)
    event = AuditEvent.objects.get(action=AuditAction.REFER, object_id=str(participant.pk))
    assert event.acting_user is None
    assert event.acting_as == "system: cli: mindtrial load"
    assert event.actor_label == "system: cli: mindtrial load"
    # The audit page names it too.
    manager = make_user("dm", Role.DATA_MANAGER)
    grant(manager, participant.study)
    client = Client()
    client.force_login(manager)
    page = client.get(f"/studies/{participant.study.pk}/audit/", {"action": AuditAction.REFER})
    assert "system: cli: mindtrial load" in page.content.decode()


def test_a_staff_users_write_is_audited_as_that_user_not_as_a_system() -> None:
    study = make_study()
    site = make_site(study)
    coordinator = make_user("coord")
    grant(coordinator, study)
    participant = enrolment.participant_refer(
        acting_user=coordinator,
        study=study,
        site=site,
        referral_source="clinic",
        referral_date=dt.date(2025, 12, 1),
    )
    event = AuditEvent.objects.get(action=AuditAction.REFER, object_id=str(participant.pk))
    assert event.acting_user == coordinator and event.acting_as == ""


@pytest.mark.parametrize("name", ["", "   ", "x" * 60])
def test_a_system_actor_needs_a_short_name(name: str) -> None:
    with pytest.raises(ValueError):
        SystemActor(name)


def test_setup_actor_is_a_system_actor() -> None:
    assert isinstance(SETUP, SystemActor) and SETUP.label == "system: tests: set-up"
    assert ParticipantActor().label == "participant"


# --------------------------------------------------------------------------- web path

OPERATOR_ENTRY_POINTS = ("mindtrial.cli", "mindtrial.web.demo")
"""Where a SystemActor may be constructed: commands run by the operator at the machine."""


def _constructs_system_actor(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name | ast.Attribute)
        and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "SystemActor"
        for node in ast.walk(tree)
    )


def _module_name(path: Path) -> str:
    return ".".join(("mindtrial", *path.relative_to(SRC).with_suffix("").parts))


def test_only_operator_commands_construct_a_system_actor() -> None:
    constructing = sorted(_module_name(p) for p in SRC.rglob("*.py") if _constructs_system_actor(p))
    assert constructing, "the scan found nothing: it is broken"
    for name in constructing:
        assert name.startswith(OPERATOR_ENTRY_POINTS) or ".management.commands." in name, name


def test_no_web_request_can_reach_a_module_that_constructs_a_system_actor() -> None:
    """The URL configuration (every view, the API, the middleware it names) never imports,
    even indirectly, a module that makes a system actor: a request cannot obtain one."""
    graph = grimp.build_graph("mindtrial")
    constructing = {_module_name(p) for p in SRC.rglob("*.py") if _constructs_system_actor(p)}
    roots = ["mindtrial.web.config.urls", "mindtrial.web.config.settings.base"]
    reachable: set[str] = set()
    for root in roots:
        reachable |= graph.find_upstream_modules(root) | {root}
    assert "mindtrial.web.enrolment.services" in reachable  # the graph is the real one
    assert not (reachable & constructing), sorted(reachable & constructing)
