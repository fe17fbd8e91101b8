"""The audit trail: append-only, written only by :mod:`mindtrial.web.audit.services`."""
