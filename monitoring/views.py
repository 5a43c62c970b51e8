from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.selectors import system_health

HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(["healthy", "unhealthy"]),
        "checks": serializers.DictField(child=serializers.CharField()),
        "checks_performed": serializers.ListField(child=serializers.CharField()),
        "response_time_ms": serializers.FloatField(),
    },
)


class HealthView(APIView):
    """Open to all, so load balancers and uptime checks need no token."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="monitor_health", summary="Health of the service",
        responses={200: HealthSerializer, 503: HealthSerializer}, auth=[],
    )
    def get(self, request):
        health = system_health()
        return Response(health, status=200 if health["status"] == "healthy" else 503)
