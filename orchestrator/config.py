"""Settings of TMUX Orchestrator: the environment over ``config/orchestrator.toml`` over defaults.

This is the one place that reads them. A bad value raises ``ConfigError`` naming the
environment variable and the TOML key, so the service refuses to start instead of running
with a setting the user did not mean.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class ConfigError(Exception):
    """A setting has a value the service cannot run with."""


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _from_agent_format(value: Any) -> str:
    text = _text(value)
    if "{sender}" not in text or "{message}" not in text:
        raise ValueError("must contain {sender} and {message}")
    return text


def _optional_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value.strip()


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError("must be a whole number") from None
        if isinstance(value, float) or isinstance(value, bool) or not low <= number <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return number

    return parse


def _seconds(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("must be a number of seconds") from None
    if isinstance(value, bool) or not 0 < number <= 86400:
        raise ValueError("must be a number of seconds above 0 and at most 86400")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    words = {"1": True, "true": True, "yes": True, "on": True,
             "0": False, "false": False, "no": False, "off": False}
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    raise ValueError("must be true or false")


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return value.strip().lower()

    return parse


def _word_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of strings (or comma-separated in the environment)")
    return [v.strip() for v in value if v.strip()]


HOST_NAME, HOST_RULE = r"[A-Za-z0-9_.-]{1,64}", "1-64 letters, digits, '.', '_' or '-'"


def _socket_name(value: Any) -> str:
    name = _text(value)
    if not re.fullmatch(HOST_NAME, name):
        raise ValueError(f"must be {HOST_RULE}")
    return name


@dataclass(frozen=True)
class Setting:
    env: str
    path: tuple[str, str]
    parse: Callable[[Any], Any]
    default: Any


SETTINGS: dict[str, Setting] = {
    "host": Setting("TMUX_ORC_HOST", ("server", "host"), _text, "127.0.0.1"),
    "port": Setting("TMUX_ORC_PORT", ("server", "port"), _integer(1, 65535), 8000),
    "workers": Setting("TMUX_ORC_WORKERS", ("server", "workers"), _integer(1, 64), 2),
    "environment": Setting(
        "TMUX_ORC_ENV", ("server", "environment"), _choice("production", "development"), "production"
    ),
    "debug": Setting("TMUX_ORC_DEBUG", ("server", "debug"), _boolean, False),
    "allowed_hosts": Setting("TMUX_ORC_ALLOWED_HOSTS", ("server", "allowed_hosts"), _word_list, ["*"]),
    "secret_key": Setting("TMUX_ORC_SECRET_KEY", ("server", "secret_key"), _optional_text, ""),
    "public_url": Setting("TMUX_ORC_URL", ("server", "public_url"), _optional_text, ""),
    "lead_roles": Setting("TMUX_ORC_LEAD_ROLES", ("auth", "lead_roles"), _word_list, ["orchestrator", "pm"]),
    "global_roles": Setting("TMUX_ORC_GLOBAL_ROLES", ("auth", "global_roles"), _word_list, ["orchestrator"]),
    "rate_limit": Setting("TMUX_ORC_RATE_LIMIT", ("auth", "rate_limit"), _integer(0, 1_000_000), 6000),
    "agent_rate_limit": Setting("TMUX_ORC_AGENT_RATE_LIMIT", ("auth", "agent_rate_limit"), _integer(0, 1_000_000), 600),
    "max_waits": Setting("TMUX_ORC_MAX_WAITS", ("server", "max_waits"), _integer(1, 10_000), 32),
    "mcp_allowed_origins": Setting("TMUX_ORC_MCP_ALLOWED_ORIGINS", ("auth", "mcp_allowed_origins"), _word_list, []),
    "data_dir": Setting("TMUX_ORC_DATA_DIR", ("server", "data_dir"), _text, str(BASE_DIR / "var")),
    "log_level": Setting(
        "TMUX_ORC_LOG_LEVEL", ("logging", "level"), lambda v: _choice("debug", "info", "warning", "error")(v).upper(), "INFO"
    ),
    "log_format": Setting("TMUX_ORC_LOG_FORMAT", ("logging", "format"), _choice("text", "json"), "text"),
    "database_url": Setting("DATABASE_URL", ("database", "url"), _optional_text, ""),
    "db_pool_size": Setting("TMUX_ORC_DB_POOL_SIZE", ("database", "pool_size"), _integer(1, 500), 10),
    "redis_url": Setting("REDIS_URL", ("broker", "url"), _optional_text, ""),
    "worker_concurrency": Setting("TMUX_ORC_WORKER_CONCURRENCY", ("worker", "concurrency"), _integer(1, 64), 6),
    "agent_host": Setting("TMUX_ORC_AGENT_HOST", ("worker", "host_name"), _socket_name, socket.gethostname()),
    "default_host": Setting("TMUX_ORC_DEFAULT_HOST", ("agents", "default_host"), _socket_name, "auto"),
    "tmux_socket": Setting("TMUX_ORC_TMUX_SOCKET", ("tmux", "socket_name"), _socket_name, "tmux-orc"),
    "metrics_enabled": Setting("TMUX_ORC_METRICS_ENABLED", ("monitoring", "enabled"), _boolean, True),
    "health_check_interval": Setting(
        "TMUX_ORC_HEALTH_CHECK_INTERVAL", ("monitoring", "health_check_interval"), _seconds, 5.0
    ),
    "metrics_retention_hours": Setting(
        "TMUX_ORC_METRICS_RETENTION_HOURS", ("monitoring", "metrics_retention_hours"), _integer(1, 8760), 24
    ),
    "default_timeout": Setting("TMUX_ORC_DEFAULT_TIMEOUT", ("agents", "default_timeout"), _seconds, 30.0),
    "agent_mcp": Setting("TMUX_ORC_AGENT_MCP", ("agents", "mcp"), _boolean, True),
    "max_concurrent_spawns": Setting(
        "TMUX_ORC_MAX_CONCURRENT_SPAWNS", ("agents", "max_concurrent_spawns"), _integer(1, 1000), 10
    ),
    "recovery_enabled": Setting("TMUX_ORC_RECOVERY_ENABLED", ("agents", "recovery_enabled"), _boolean, True),
    "default_profile": Setting("TMUX_ORC_DEFAULT_PROFILE", ("agents", "default_profile"), _text, "claude"),
    "operation_expiry": Setting(
        "TMUX_ORC_OPERATION_EXPIRY", ("agents", "operation_expiry"), _seconds, 600.0
    ),
    "stuck_after": Setting("TMUX_ORC_STUCK_AFTER", ("monitoring", "stuck_after"), _seconds, 600.0),
    "max_restarts": Setting("TMUX_ORC_MAX_RESTARTS", ("agents", "max_restarts"), _integer(0, 100), 5),
    "restart_backoff": Setting("TMUX_ORC_RESTART_BACKOFF", ("agents", "restart_backoff"), _seconds, 5.0),
    "slack_webhook_url": Setting("SLACK_WEBHOOK_URL", ("alerts", "slack_webhook_url"), _optional_text, ""),
    "smtp_host": Setting("SMTP_HOST", ("alerts", "smtp_host"), _optional_text, ""),
    "smtp_port": Setting("SMTP_PORT", ("alerts", "smtp_port"), _integer(1, 65535), 587),
    "smtp_user": Setting("SMTP_USER", ("alerts", "smtp_user"), _optional_text, ""),
    "smtp_password": Setting("SMTP_PASSWORD", ("alerts", "smtp_password"), _optional_text, ""),
    "smtp_use_tls": Setting("SMTP_USE_TLS", ("alerts", "smtp_use_tls"), _boolean, True),
    "alert_email_to": Setting("TMUX_ORC_ALERT_EMAIL_TO", ("alerts", "email_to"), _word_list, []),
    "alert_email_from": Setting(
        "TMUX_ORC_ALERT_EMAIL_FROM", ("alerts", "email_from"), _text, "tmux-orchestrator@localhost"
    ),
    "alert_cooldown": Setting("TMUX_ORC_ALERT_COOLDOWN", ("alerts", "cooldown"), _seconds, 900.0),
    "approval_alert_after": Setting(
        "TMUX_ORC_APPROVAL_ALERT_AFTER", ("alerts", "approval_after"), _seconds, 300.0
    ),
    "message_expiry": Setting("TMUX_ORC_MESSAGE_EXPIRY", ("messages", "expiry"), _seconds, 3600.0),
    "check_timeout": Setting("TMUX_ORC_CHECK_TIMEOUT", ("tasks", "check_timeout"), _seconds, 600.0),
    "standup_message": Setting(
        "TMUX_ORC_STANDUP_MESSAGE", ("teams", "standup_message"), _text,
        "Standup: in two or three lines, what have you done since the last one, what are you doing now, "
        "and what is blocking you?",
    ),
    "delivery_timeout": Setting("TMUX_ORC_DELIVERY_TIMEOUT", ("messages", "delivery_timeout"), _seconds, 30.0),
    "from_agent_format": Setting("TMUX_ORC_FROM_AGENT_FORMAT", ("messages", "from_agent_format"), _from_agent_format,
                                 "[from {sender}] {message}"),
}
# Tables that only the TOML file can hold, validated by the code that uses them.
TABLES = {("agents", "custom_types"), ("agents", "profiles"), ("tasks", "gates"), ("teams", "templates")}


def _label(setting: Setting) -> str:
    section, key = setting.path
    return f"{setting.env} ([{section}] {key})"


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"TMUX_ORC_CONFIG: cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def _check_known_keys(document: dict, path: Path) -> None:
    known = {s.path for s in SETTINGS.values()} | TABLES
    sections = {section for section, _ in known}
    for section, table in document.items():
        if section not in sections or not isinstance(table, dict):
            raise ConfigError(f"{path}: unknown section [{section}]")
        for key in table:
            if (section, key) not in known:
                raise ConfigError(f"{path}: unknown setting '{key}' in [{section}]")


def _custom_types(document: dict, path: Path) -> dict[str, dict]:
    types = document.get("agents", {}).get("custom_types", {})
    if not isinstance(types, dict):
        raise ConfigError(f"{path}: [agents.custom_types] must be a table of tables")
    parsed = {}
    for name, spec in types.items():
        where = f"{path}: [agents.custom_types.{name}]"
        if not NAME_RE.match(name):
            raise ConfigError(f"{where}: the name must be lower-case letters, digits and '_'")
        if not isinstance(spec, dict) or set(spec) - {"briefing", "required_tools", "default_timeout"}:
            raise ConfigError(f"{where}: allowed keys are briefing, required_tools, default_timeout")
        try:
            parsed[name] = {
                "briefing": _optional_text(spec.get("briefing", "")),
                "required_tools": _word_list(spec.get("required_tools", [])),
                "default_timeout": _seconds(spec["default_timeout"]) if "default_timeout" in spec else None,
            }
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None
    return parsed


def _profiles(document: dict, path: Path) -> dict[str, dict]:
    profiles = document.get("agents", {}).get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: [agents.profiles] must be a table of tables")
    for name, spec in profiles.items():
        if not NAME_RE.match(name) or not isinstance(spec, dict):
            raise ConfigError(f"{path}: [agents.profiles.{name}] must be a table with a lower-case name")
    return profiles


def _gates(document: dict, path: Path) -> dict[str, str]:
    gates = document.get("tasks", {}).get("gates", {})
    if not isinstance(gates, dict):
        raise ConfigError(f"{path}: [tasks.gates] must be a table of NAME = \"module.Class\"")
    for name, dotted in gates.items():
        if not NAME_RE.match(name) or not isinstance(dotted, str) or "." not in dotted:
            raise ConfigError(f"{path}: [tasks.gates] {name}: must be a lower-case name = \"module.Class\"")
    return dict(gates)


def _team_templates(document: dict, path: Path) -> dict[str, dict]:
    templates = document.get("teams", {}).get("templates", {})
    if not isinstance(templates, dict):
        raise ConfigError(f"{path}: [teams.templates] must be a table of tables")
    parsed = {}
    for name, spec in templates.items():
        where = f"{path}: [teams.templates.{name}]"
        if not NAME_RE.match(name) or not isinstance(spec, dict) or set(spec) - {"description", "members"}:
            raise ConfigError(f"{where}: a lower-case name, with keys description and members")
        members = spec.get("members")
        if not isinstance(members, list) or not members or not all(isinstance(m, dict) for m in members):
            raise ConfigError(f"{where}: members must be a non-empty list of tables ({{role = \"pm\", ...}})")
        for member in members:
            if set(member) - {"role", "briefing", "skills", "profile", "host"} or not isinstance(member.get("role"), str):
                raise ConfigError(f"{where}: each member has a role, and may have briefing, skills, profile, host")
            if "host" in member and not (isinstance(member["host"], str) and re.fullmatch(HOST_NAME, member["host"])):
                raise ConfigError(f"{where}: a member's host is a host name ({HOST_RULE}) or \"auto\"")
        parsed[name] = {"description": str(spec.get("description", "")), "members": members}
    return parsed


# Settings whose values are secrets, or hold one (a password in a URL).
SECRET_SETTINGS = frozenset({"secret_key", "database_url", "redis_url", "smtp_user", "smtp_password",
                             "slack_webhook_url", "public_url"})
REDACTED = "********"


class Config(SimpleNamespace):
    """The settings. Shown (in a log, a debug page, a traceback's variables) with every secret
    replaced, and profiles by name only: their env may hold an agent program's API key."""

    def __repr__(self) -> str:
        shown = {name: REDACTED if name in SECRET_SETTINGS and value else value
                 for name, value in vars(self).items() if name != "profiles"}
        shown["profiles"] = sorted(vars(self).get("profiles", {}))
        return f"Config({', '.join(f'{name}={value!r}' for name, value in shown.items())})"


def load(environ: dict[str, str] | None = None) -> Config:
    """Read every setting; raise ConfigError naming the first bad one."""
    environ = os.environ if environ is None else environ
    config_path = Path(environ.get("TMUX_ORC_CONFIG") or BASE_DIR / "config" / "orchestrator.toml")
    document: dict = {}
    if "TMUX_ORC_CONFIG" in environ or config_path.exists():
        document = _read_toml(config_path)
        _check_known_keys(document, config_path)
    values: dict[str, Any] = {"config_path": str(config_path)}
    for name, setting in SETTINGS.items():
        section, key = setting.path
        raw = environ.get(setting.env)
        if raw is None or raw == "":
            raw = document.get(section, {}).get(key, setting.default)
        try:
            values[name] = setting.parse(raw)
        except ValueError as error:
            raise ConfigError(f"{_label(setting)} {error} (got {raw!r})") from None
    values["custom_types"] = _custom_types(document, config_path)
    values["profiles"] = _profiles(document, config_path)
    values["quality_gates"] = _gates(document, config_path)
    values["team_templates"] = _team_templates(document, config_path)
    return Config(**values)
