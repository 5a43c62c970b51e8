from django.conf import settings
from django.contrib import admin
from django.urls import path
from rest_framework.routers import SimpleRouter

from agents.views import AgentViewSet, ApprovalViewSet, MessageViewSet
from monitoring.views import HealthView, MonitorViewSet, StreamView
from orchestrator.docs import RedocView, SchemaView, SwaggerView
from orchestrator.metrics import metrics_view
from tasks.views import TaskViewSet
from teams.views import CoordinationViewSet, TeamViewSet

router = SimpleRouter(trailing_slash=False)
router.register("agents", AgentViewSet, basename="agents")
router.register("agents", ApprovalViewSet, basename="approvals")
router.register("messages", MessageViewSet, basename="messages")
router.register("monitor", MonitorViewSet, basename="monitor")
router.register("coordination", CoordinationViewSet, basename="coordination")
router.register("teams", TeamViewSet, basename="teams")
router.register("tasks", TaskViewSet, basename="tasks")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("monitor/health", HealthView.as_view(), name="monitor-health"),
    path("monitor/stream", StreamView.as_view(), name="monitor-stream"),
    path("openapi.json", SchemaView.as_view(), name="openapi"),
    path("docs", SwaggerView.as_view(url_name="openapi"), name="docs"),
    path("redoc", RedocView.as_view(url_name="openapi"), name="redoc"),
    *router.urls,
]
if settings.TMUX_ORC.metrics_enabled:
    urlpatterns.append(path("metrics", metrics_view, name="metrics"))

handler404 = "orchestrator.api.not_found"
handler500 = "orchestrator.api.server_error"
