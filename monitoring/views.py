from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.selectors import system_health
from orchestrator.api import ErrorBody
from orchestrator.serializers import StrictBooleanField, StrictSerializer, validated


class HealthQuerySerializer(StrictSerializer):
    include_diagnostics = StrictBooleanField(required=False, default=False,
                                             help_text="Add heartbeats and agents by state.")

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
        parameters=[HealthQuerySerializer], responses={200: HealthSerializer, 503: HealthSerializer}, auth=[],
    )
    def get(self, request):
        query = validated(HealthQuerySerializer, request.query_params)
        health = system_health(include_diagnostics=query["include_diagnostics"])
        if health["status"] == "healthy":
            return Response(health)
        failing = "; ".join(f"{name} {result}" for name, result in health["checks"].items() if result != "ok")
        return Response(ErrorBody(error_message=f"unhealthy: {failing}", data=health), status=503)
