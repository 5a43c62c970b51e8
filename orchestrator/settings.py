"""Django settings. Every value users set comes from ``orchestrator.config``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

from orchestrator.broker import folders
from orchestrator.config import BASE_DIR, load
from orchestrator.job_limits import visibility_timeout

ORC = load()
TMUX_ORC = ORC

DATA_DIR = Path(ORC.data_dir).expanduser().resolve()
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
if DATA_DIR.stat().st_uid == os.getuid():  # a volume someone else owns is theirs to set
    DATA_DIR.chmod(0o700)  # the database, the broker's messages, agents' files with tokens: this user's only


def _secret_key() -> str:
    """The configured key, or one generated once and kept in the data directory."""
    if ORC.secret_key:
        return ORC.secret_key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEFAULT_EXCEPTION_REPORTER_FILTER = "orchestrator.errors.SettingsFilter"
DEBUG = ORC.debug or ORC.environment == "development"
ALLOWED_HOSTS = ORC.allowed_hosts

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "django_celery_beat",
    "django_htmx",
    "orchestrator",
    "agents",
    "teams",
    "tasks",
    "monitoring",
    "dashboard",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "orchestrator.urls"
WSGI_APPLICATION = "orchestrator.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _databases() -> dict:
    if ORC.database_url:
        return {"default": _server_database(ORC.database_url)}
    # The embedded default: SQLite in WAL mode, so the web server, the worker and beat
    # can read while one of them writes. Made private before SQLite makes it (its -wal and
    # -shm files take the database file's mode).
    (DATA_DIR / "orchestrator.sqlite3").touch(mode=0o600)
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "orchestrator.sqlite3",
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            "TEST": {"NAME": DATA_DIR / "test.sqlite3"},
        }
    }


def _server_database(url: str) -> dict:
    """A database server's settings. Connections are never kept per thread (CONN_MAX_AGE 0):
    under ASGI every request runs in a thread of its own, so kept ones pile up until the
    server refuses more. On PostgreSQL each process borrows from a pool of its own instead
    (at most TMUX_ORC_DB_POOL_SIZE), and a connection goes back when the request or job ends."""
    database = dj_database_url.parse(url, conn_max_age=0, conn_health_checks=True)
    if database["ENGINE"] == "django.db.backends.postgresql":
        # One stays open for the next request; health checks replace any the server dropped.
        database.setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": ORC.db_pool_size}
    return database


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
LOGIN_URL = "dashboard-login"
LOGIN_REDIRECT_URL = "dashboard-overview"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Celery ---------------------------------------------------------------------------
_QUIET_LOGGERS: dict = {}
if ORC.redis_url:
    CELERY_BROKER_URL = ORC.redis_url
    # A job not acknowledged this long after it was taken goes back to the queue, to run
    # again: longer than the longest job may run (a task's checks), so a live one never is.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": visibility_timeout(ORC.check_timeout)}
else:
    # The embedded default: a broker in the filesystem that needs no server, with
    # messages that appear in the queue whole (orchestrator/broker.py says why).
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT = "orchestrator.broker:Transport"
    _QUIET_LOGGERS = {"kombu.connection": {"level": "ERROR"}}  # "no hostname supplied": none is needed
    # A worker whose processes are all busy takes its next job at its next poll: in a burst
    # of deliveries (50 agents idle in a second) every job waits for one.
    BROKER_POLL = 0.03  # seconds
    CELERY_BROKER_TRANSPORT_OPTIONS = {**folders(DATA_DIR / "broker"), "store_processed": False, "polling_interval": BROKER_POLL}
CELERY_TASK_DEFAULT_QUEUE = "orchestrator"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Periodic jobs live in the database (django-celery-beat), so they can be changed or paused
# in the admin; monitoring.services.schedule_ensure writes them at start.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Request counts per token (orchestrator/throttling.py): shared by every web process.
if ORC.redis_url:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": ORC.redis_url}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(DATA_DIR / "cache")}}
# The largest request body: a briefing or a message is at most 100,000 characters.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["orchestrator.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["orchestrator.throttling.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["orchestrator.api.EnvelopeRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "orchestrator.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "TMUX Orchestrator API",
    "DESCRIPTION": (
        "Run teams of AI coding agents in tmux. Every response is an envelope "
        "`{success, data, error_message, timestamp}`. Every endpoint but `/monitor/health` needs "
        "`Authorization: Bearer <token>`: to try requests from this page, click **Authorize** and "
        "paste a token (`tmux-orc token create NAME` makes one)."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "orchestrator.schema.wrap_in_envelope",
    ],
    # Choice sets used by several fields get one name each.
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "tasks.models.TaskStatus",
        "TaskPriorityEnum": "tasks.models.TaskPriority",
        "AgentStateEnum": "agents.models.AgentState",
    },
    # The schema and docs need a token too, or a login to the admin in the same browser.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SERVE_AUTHENTICATION": [
        "orchestrator.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}

# --- Logging ----------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "orchestrator.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": ORC.log_format}},
    "root": {"handlers": ["console"], "level": ORC.log_level},
    "loggers": {"libtmux": {"level": "WARNING"}, **_QUIET_LOGGERS},
}


# --- Alert e-mail (Django's mail, over SMTP_HOST) ------------------------------------------
if ORC.smtp_host:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST, EMAIL_PORT = ORC.smtp_host, ORC.smtp_port
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = ORC.smtp_user, ORC.smtp_password
    EMAIL_USE_TLS = ORC.smtp_use_tls
    EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = ORC.alert_email_from
