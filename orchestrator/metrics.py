"""Prometheus metrics at /metrics, behind the same bearer token as the API."""

from django.http import JsonResponse
from django_prometheus.exports import ExportToDjangoView
from rest_framework.exceptions import AuthenticationFailed

from orchestrator.api import envelope
from orchestrator.auth import BearerTokenAuthentication


def metrics_view(request):
    try:
        authenticated = BearerTokenAuthentication().authenticate(request)
    except AuthenticationFailed as error:
        authenticated, reason = None, str(error.detail)
    else:
        reason = "send 'Authorization: Bearer <token>'"
    if authenticated is None:
        response = JsonResponse(envelope(None, f"authentication required: {reason}"), status=401)
        response["WWW-Authenticate"] = 'Bearer realm="tmux-orchestrator"'
        return response
    return ExportToDjangoView(request)
