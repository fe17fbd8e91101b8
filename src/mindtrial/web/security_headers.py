"""Response headers that tell the browser what a page may do.

Django's ``SecurityMiddleware`` already sends ``X-Content-Type-Options: nosniff``,
``Referrer-Policy`` and ``Cross-Origin-Opener-Policy``, and the clickjacking middleware
``X-Frame-Options``; this middleware adds what Django 5.2 has no setting for:

* ``Content-Security-Policy`` (``settings.MINDTRIAL_CONTENT_SECURITY_POLICY``): by default
  scripts, styles, images and fonts only from this site, no inline script or style, no
  plugins, no ``<base>``, forms post only here, no framing. Every page keeps its script
  and style in ``static/`` files, so nothing needs ``'unsafe-inline'``.
* ``Permissions-Policy`` (``settings.MINDTRIAL_PERMISSIONS_POLICY``): no camera,
  microphone, location, payment, USB… for any page (the video sessions run elsewhere).
* ``Cross-Origin-Resource-Policy: same-origin``: other sites cannot embed our responses
  (a screen capture of a test result, an export).

A view that sets one of these headers itself keeps its own value.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

DEFAULT_CONTENT_SECURITY_POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
DEFAULT_PERMISSIONS_POLICY: tuple[str, ...] = (
    "accelerometer",
    "autoplay",
    "camera",
    "display-capture",
    "geolocation",
    "gyroscope",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "publickey-credentials-get",
    "screen-wake-lock",
    "serial",
    "usb",
    "xr-spatial-tracking",
)


def content_security_policy() -> str:
    policy = getattr(settings, "MINDTRIAL_CONTENT_SECURITY_POLICY", DEFAULT_CONTENT_SECURITY_POLICY)
    return "; ".join(f"{directive} {sources}".strip() for directive, sources in policy.items())


def permissions_policy() -> str:
    features = getattr(settings, "MINDTRIAL_PERMISSIONS_POLICY", DEFAULT_PERMISSIONS_POLICY)
    return ", ".join(f"{feature}=()" for feature in features)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.headers = {
            "Content-Security-Policy": content_security_policy(),
            "Permissions-Policy": permissions_policy(),
            "Cross-Origin-Resource-Policy": "same-origin",
        }

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)
        return response
