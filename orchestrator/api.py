"""API conventions: every response is the envelope `{success, data, error_message, timestamp}`.

Views return plain data; the renderer wraps it. Errors of every kind pass through
`exception_handler`, the one place that decides their message and status code.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import JsonResponse
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import exception_handler as drf_exception_handler

from orchestrator.errors import OrchestratorError
from orchestrator.serializers import error_text
from orchestrator.throttling import refusal

log = logging.getLogger(__name__)


def envelope(data=None, error_message: str | None = None) -> dict:
    return {
        "success": error_message is None,
        "data": data,
        "error_message": error_message,
        "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
    }


class ErrorBody(dict):
    """Marks a response body as an error already reduced to its message."""


class EnvelopeRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if isinstance(data, ErrorBody):
            data = envelope(data.get("data"), data["error_message"])
        elif response is not None and response.status_code >= 400:
            data = envelope(None, error_text(data))
        elif not (isinstance(data, dict) and set(data) == {"success", "data", "error_message", "timestamp"}):
            data = envelope(data)
        return super().render(data, accepted_media_type, renderer_context)


def exception_handler(exc, context):
    if isinstance(exc, OrchestratorError):
        return Response(ErrorBody(error_message=exc.message), status=exc.status_code)
    if isinstance(exc, exceptions.NotAuthenticated):
        exc.detail = (
            "authentication required: send 'Authorization: Bearer <token>' (tmux-orc token create NAME); "
            "for the docs pages, log in at /admin/"
        )
    if isinstance(exc, OperationalError):  # a pool with no connection free in time, a locked SQLite file
        log.warning("database unavailable in %s: %s", context.get("view"), exc)
        return Response(ErrorBody(error_message="the database is busy or unreachable; try again in a moment"),
                        status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"})
    if isinstance(exc, RequestDataTooBig):
        return Response(ErrorBody(error_message=f"the request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} "
                                                "bytes; nothing was done"), status=413)
    if isinstance(exc, exceptions.Throttled):
        request = context.get("request")
        return Response(ErrorBody(error_message=refusal(request.auth, exc.wait or 0)), status=429,
                        headers={"Retry-After": str(math.ceil(exc.wait or 1))})
    if isinstance(exc, exceptions.ParseError):
        return Response(ErrorBody(error_message=f"the body is not valid JSON: {exc.detail}"), status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("unhandled error in %s", context.get("view"))
        return Response(
            ErrorBody(error_message="internal error; the server log has the details"),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    response.data = ErrorBody(error_message=error_text(response.data))
    return response


def not_found(request, exception=None):
    return JsonResponse(envelope(None, f"no such endpoint: {request.path}"), status=404)


def server_error(request):
    return JsonResponse(envelope(None, "internal error; the server log has the details"), status=500)


class EnvelopeErrorsMixin:
    """For views with their own renderers (schema, docs pages): errors still use the envelope."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(getattr(response, "data", None), ErrorBody):
            response.accepted_renderer = EnvelopeRenderer()
            response.accepted_media_type = EnvelopeRenderer.media_type
        return response


def paged(request, rows, query: dict, serializer_class=None) -> Response:
    """One page of `rows` (`query`'s limit and offset) as the list in `data`: the count of
    all in X-Total-Count, and the next page, if any, in a Link header."""
    limit, offset = query["limit"], query["offset"]
    count = rows.count() if hasattr(rows, "count") and not isinstance(rows, list) else len(rows)
    headers = {"X-Total-Count": str(count)}
    if offset + limit < count:
        after = request.build_absolute_uri(replace_query_param(request.get_full_path(), "offset", offset + limit))
        headers["Link"] = f'<{after}>; rel="next"'
    page = rows[offset:offset + limit]
    return Response(serializer_class(page, many=True).data if serializer_class else page, headers=headers)
