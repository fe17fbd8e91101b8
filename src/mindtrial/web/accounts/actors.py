"""The actor every service takes: a staff user or a named system process.

``Actor`` is what ``acting_user`` means everywhere in the web apps' services. A staff user
is authorized by role and study access at the service's entry point (its ``require_*``
function); a :class:`SystemActor` is the operator at the machine (a ``mindtrial`` command,
a management command, the demo builder), trusted as such and named in every audit row it
writes. ``None`` is refused (TypeError), so forgetting the actor cannot skip a check.
"""

from __future__ import annotations

from typing import TypeAlias

from mindtrial.web.accounts.models import User
from mindtrial.web.audit.actors import SystemActor

Actor: TypeAlias = User | SystemActor

__all__ = ["Actor", "SystemActor", "require_actor", "staff_user"]


def require_actor(actor: object) -> Actor:
    """``actor`` itself if it is a saved staff user or a system actor; TypeError otherwise
    (``None``, an anonymous user, anything else)."""
    if isinstance(actor, SystemActor):
        return actor
    if isinstance(actor, User) and actor.pk is not None:
        return actor
    raise TypeError(f"acting_user must be a staff User or a SystemActor, not {actor!r}")


def staff_user(actor: object) -> User | None:
    """The staff user acting, or None for a system actor (TypeError for anything else).

    The usual first lines of a service's ``require_*`` check::

        user = staff_user(acting_user)
        if user is None:  # the operator at the command line, named in the audit row
            return
    """
    checked = require_actor(actor)
    return None if isinstance(checked, SystemActor) else checked
