from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from agents.views import HookView
from monitoring.views import StreamView
from orchestrator.docs import RedocView, SchemaView, SwaggerView
from orchestrator.metrics import metrics_view
from orchestrator.rest import operation_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    path("agents/hook", HookView.as_view(), name="agents-hook"),
    path("monitor/stream", StreamView.as_view(), name="monitor-stream"),
    path("openapi.json", SchemaView.as_view(), name="openapi"),
    path("docs", SwaggerView.as_view(url_name="openapi"), name="docs"),
    path("redoc", RedocView.as_view(url_name="openapi"), name="redoc"),
    *operation_urls(),
    path("", include("dashboard.urls")),
]
if settings.TMUX_ORC.metrics_enabled:
    urlpatterns.append(path("metrics", metrics_view, name="metrics"))

handler404 = "orchestrator.api.not_found"
handler500 = "orchestrator.api.server_error"
