"""Refuse requests that carry a NUL character where text is expected.

PostgreSQL text columns cannot hold U+0000, so a NUL typed into an address, a query
parameter or a JSON body would otherwise reach the database and end in a 500. Django's
forms already refuse NUL in their fields; the API (django-ninja, pydantic) does not, and
neither do path parameters. This middleware answers 400 before any view runs. Uploaded
files (multipart bodies) are binary and are not looked at.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponseBase, JsonResponse

MESSAGE = "The request contains a NUL character (U+0000), which no field accepts."


def carries_null(request: HttpRequest) -> bool:
    """Whether the path, the query string or a text body holds a NUL character."""
    if "\x00" in request.path or "\x00" in unquote(request.META.get("QUERY_STRING", "")):
        return True
    content_type = request.META.get("CONTENT_TYPE", "")
    if content_type.startswith("multipart/"):
        return False
    body = request.body
    if b"\x00" in body:
        return True
    if content_type.startswith("application/x-www-form-urlencoded"):
        return b"%00" in body
    if "json" in content_type:
        return b"\\u0000" in body
    return False


class NullCharacterMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if carries_null(request):
            return JsonResponse({"detail": MESSAGE}, status=400)
        return self.get_response(request)
