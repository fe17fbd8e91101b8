"""The study's concealment secret: the key of everything that must not be guessable.

It keys the concealed toxicology test days (:mod:`mindtrial.web.toxicology.schedule`) and the
order of a masked export's neutral arm codes (:func:`mindtrial.web.exports.selectors.masked_codes`).
It is ``settings.MINDTRIAL_TOX_SECRET`` or the ``MINDTRIAL_TOX_SECRET`` environment variable;
without either, a key derived from ``SECRET_KEY`` (HMAC, purpose-bound). It is never stored
in the database or shown.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from django.conf import settings


def concealment_key() -> bytes:
    """The secret as bytes (the same value for the same settings and environment)."""
    configured = getattr(settings, "MINDTRIAL_TOX_SECRET", "") or os.environ.get(
        "MINDTRIAL_TOX_SECRET", ""
    )
    if configured:
        return str(configured).encode("utf-8")
    return hmac.new(
        str(settings.SECRET_KEY).encode("utf-8"), b"mindtrial-toxicology-schedule", hashlib.sha256
    ).digest()
