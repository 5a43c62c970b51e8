"""Authentication, the envelope on every response, and the OpenAPI schema."""

import pytest
from django.conf import settings
from django.db import OperationalError
from rest_framework.test import APIClient

from agents import selectors
from orchestrator.models import ApiToken

pytestmark = pytest.mark.django_db
ENVELOPE = {"success", "data", "error_message", "timestamp"}
PROTECTED = [
    ("post", "/agents/spawn"), ("get", "/agents/status"), ("get", "/agents/list"),
    ("post", "/agents/restart"), ("post", "/agents/kill"), ("post", "/agents/approve"), ("post", "/agents/deny"),
    ("post", "/messages/send"), ("post", "/messages/broadcast"), ("get", "/messages/history"), ("get", "/messages/1"),
    ("get", "/monitor/status"), ("get", "/monitor/metrics"), ("get", "/monitor/agents/idle"),
    ("get", "/monitor/agents/performance"), ("get", "/openapi.json"),
    ("get", "/docs"), ("get", "/redoc"), ("get", "/metrics"),
    ("post", "/agents/report"), ("post", "/messages/schedule"), ("post", "/messages/1/cancel"),
    ("post", "/coordination/deploy-team"), ("post", "/coordination/standup"), ("get", "/coordination/standup/1"),
    ("post", "/coordination/recover"), ("get", "/teams/list"), ("get", "/teams/shop"),
    ("post", "/teams/shop/broadcast"), ("post", "/teams/shop/teardown"),
    ("post", "/tasks/create"), ("get", "/tasks/list"), ("get", "/tasks/1"), ("patch", "/tasks/1"),
    ("post", "/tasks/1/assign"), ("post", "/tasks/1/status"),
]


@pytest.mark.parametrize("method, path", PROTECTED)
def test_every_endpoint_needs_a_token(method, path):
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert response.json()["success"] is False and set(response.json()) == ENVELOPE
    assert "Bearer" in response["WWW-Authenticate"]


def test_health_is_open_to_all_and_healthy_when_beat_and_workers_report():
    from monitoring.services import beat_heartbeat, worker_started

    beat_heartbeat()
    worker_started()
    response = APIClient().get("/monitor/health", {"include_diagnostics": "true"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == ENVELOPE and body["data"]["status"] == "healthy"
    assert body["data"]["checks"] == {"database": "ok", "broker": "ok", "beat": "ok", "workers": "ok"}
    assert "worker:" + settings.TMUX_ORC.agent_host in body["data"]["diagnostics"]["heartbeats"]


def test_health_is_503_and_says_why_when_no_worker_reported():
    response = APIClient().get("/monitor/health")
    assert response.status_code == 503
    checks = response.json()["data"]["checks"]
    assert checks["workers"] == "failed: no worker has reported yet" and checks["database"] == "ok"


def test_a_revoked_or_wrong_token_is_refused(api_token):
    from orchestrator.services import token_revoke

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer tmo_wrong")
    assert client.get("/agents/list").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token}")
    assert client.get("/agents/list").status_code == 200
    token_revoke(name=ApiToken.objects.get().name)
    assert client.get("/agents/list").json()["error_message"] == "invalid or revoked token"


def test_tokens_are_stored_only_as_digests(api_token):
    token = ApiToken.objects.get()
    stored = [str(getattr(token, f.attname)) for f in ApiToken._meta.fields]
    assert api_token not in stored and token.digest != api_token


def test_unknown_paths_and_methods_answer_in_the_envelope(api):
    missing = api.get("/agents/nothing-here")
    assert missing.status_code == 404 and set(missing.json()) == ENVELOPE
    wrong_method = api.get("/agents/spawn")
    assert wrong_method.status_code == 405 and wrong_method.json()["success"] is False


def test_schema_documents_the_envelope_and_errors(api):
    response = api.get("/openapi.json", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    spawn = schema["paths"]["/agents/spawn"]["post"]
    created = spawn["responses"]["201"]["content"]["application/json"]["schema"]
    assert set(created["properties"]) == ENVELOPE
    assert {"400", "401", "422"} <= set(spawn["responses"])
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    health = schema["paths"]["/monitor/health"]["get"]
    assert "401" not in health["responses"]


def test_docs_pages_render_with_local_assets(api):
    for path in ("/docs", "/redoc"):
        response = api.get(path)
        assert response.status_code == 200
        assert b"/static/drf_spectacular_sidecar/" in response.content


def test_a_browser_opening_the_docs_without_a_login_is_sent_to_the_admin_login():
    response = APIClient().get("/docs", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next=/docs")


def test_redoc_loads_nothing_from_other_sites(api):
    page = api.get("/redoc").content.decode()
    assert "googleapis" not in page and "https://" not in page


def test_the_schema_validates_without_a_warning(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--file", str(tmp_path / "schema.yaml"), "--validate", "--fail-on-warn")
    assert "/tasks/{id}/status" in (tmp_path / "schema.yaml").read_text()


def test_a_database_that_cannot_answer_is_a_503_that_says_so(api, monkeypatch):
    def unavailable(**kwargs):
        raise OperationalError("couldn't get a connection after 30.00 sec")

    monkeypatch.setattr(selectors, "agent_list", unavailable)

    response = api.get("/agents/list")

    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error_message"] == "the database is busy or unreachable; try again in a moment"
