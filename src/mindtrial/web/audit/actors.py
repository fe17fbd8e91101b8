"""Who acts when no staff user is signed in: a named system process, or the participant.

A staff user acts through the web app or the API as themself (an ``accounts.User``). Every
other write names its actor explicitly, and the audit row keeps that name:

- :class:`SystemActor`: a process started by an operator at the machine (a ``mindtrial``
  command, a management command, the demo builder), named for what it is
  (``SystemActor("cli: mindtrial load")``). It is constructed only outside the web request
  path (``tests/web/test_actors.py`` checks where), so no request can obtain one.
- :data:`PARTICIPANT`: the participant answering through their own signed link (a check-in);
  it may do nothing but that.

``None`` is not an actor: services refuse it (``accounts.actors.require_actor``).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class SystemActor:
    """A process acting on the operator's command; audited as ``system: <name>``."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("A system actor needs a name (e.g. 'cli: mindtrial load').")
        if len(self.label) > MAX_NAME:
            raise ValueError(f"A system actor's name is at most {MAX_NAME - 8} characters.")

    @property
    def label(self) -> str:
        """What the audit trail shows in its "who" column."""
        return f"system: {self.name.strip()}"


@dataclass(frozen=True, slots=True)
class ParticipantActor:
    """The participant themself, through their signed check-in link."""

    @property
    def label(self) -> str:
        return "participant"


PARTICIPANT = ParticipantActor()
