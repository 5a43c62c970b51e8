"""Settings: the environment over the TOML file over defaults; bad values refuse to start."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import ConfigError, load

TMUX_ORC = Path(sys.executable).parent / "tmux-orc"


@pytest.fixture
def config_file(tmp_path):
    """Write a TOML config file; return the environment that points at it."""

    def write(text: str = "", **environ: str) -> dict[str, str]:
        path = tmp_path / "orchestrator.toml"
        path.write_text(text)
        return {"TMUX_ORC_CONFIG": str(path), **environ}

    return write


def test_an_empty_file_gives_the_defaults(config_file):
    config = load(config_file())

    assert config.host == "127.0.0.1"
    assert config.port == 8000
    assert config.workers == 2
    assert config.environment == "production"
    assert config.debug is False
    assert config.allowed_hosts == ["*"]
    assert config.log_level == "INFO"
    assert config.log_format == "text"
    assert config.tmux_socket == "tmux-orc"
    assert config.agent_host == socket.gethostname()
    assert config.health_check_interval == 5.0
    assert config.default_timeout == 30.0
    assert config.default_profile == "claude"
    assert config.custom_types == {}
    assert config.profiles == {}


def test_the_file_overrides_the_defaults(config_file):
    config = load(config_file('[server]\nport = 9000\nworkers = 4\n[logging]\nformat = "json"\n'))

    assert (config.port, config.workers, config.log_format) == (9000, 4, "json")


def test_the_environment_overrides_the_file(config_file):
    environ = config_file(
        '[server]\nport = 9000\nworkers = 4\n[monitoring]\nhealth_check_interval = 7\n',
        TMUX_ORC_PORT="9100", TMUX_ORC_WORKERS="8", TMUX_ORC_HEALTH_CHECK_INTERVAL="2.5",
    )

    config = load(environ)

    assert (config.port, config.workers, config.health_check_interval) == (9100, 8, 2.5)


def test_an_empty_environment_variable_leaves_the_file_value(config_file):
    config = load(config_file("[server]\nport = 9000\n", TMUX_ORC_PORT=""))

    assert config.port == 9000


@pytest.mark.parametrize(
    "variable, value",
    [
        ("TMUX_ORC_PORT", "abc"),
        ("TMUX_ORC_PORT", "70000"),
        ("TMUX_ORC_PORT", "80.5"),
        ("TMUX_ORC_WORKERS", "0"),
        ("TMUX_ORC_WORKERS", "many"),
        ("TMUX_ORC_LOG_FORMAT", "xml"),
        ("TMUX_ORC_HEALTH_CHECK_INTERVAL", "0"),
        ("TMUX_ORC_HEALTH_CHECK_INTERVAL", "soon"),
        ("TMUX_ORC_HEALTH_CHECK_INTERVAL", "nan"),
    ],
)
def test_a_bad_environment_value_is_an_error_naming_the_variable(config_file, variable, value):
    with pytest.raises(ConfigError) as error:
        load(config_file(**{variable: value}))

    assert variable in str(error.value)
    assert repr(value) in str(error.value)


def test_a_bad_file_value_is_an_error_naming_the_variable_and_the_key(config_file):
    with pytest.raises(ConfigError) as error:
        load(config_file('[server]\nport = "eighty"\n'))

    assert "TMUX_ORC_PORT" in str(error.value)
    assert "[server] port" in str(error.value)


def test_a_fractional_port_in_the_file_is_an_error(config_file):
    with pytest.raises(ConfigError, match="TMUX_ORC_PORT"):
        load(config_file("[server]\nport = 8000.0\n"))


def test_an_unknown_section_is_an_error_naming_it(config_file):
    with pytest.raises(ConfigError, match=r"unknown section \[mystery\]"):
        load(config_file("[mystery]\nanswer = 42\n"))


def test_an_unknown_key_is_an_error_naming_it(config_file):
    with pytest.raises(ConfigError) as error:
        load(config_file("[server]\ncolour = \"blue\"\n"))

    assert "'colour'" in str(error.value)
    assert "[server]" in str(error.value)


def test_invalid_toml_is_an_error_naming_the_file(config_file):
    environ = config_file("[server\nport = 1\n")

    with pytest.raises(ConfigError, match="not valid TOML") as error:
        load(environ)

    assert environ["TMUX_ORC_CONFIG"] in str(error.value)


def test_a_missing_config_file_named_in_the_environment_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="TMUX_ORC_CONFIG"):
        load({"TMUX_ORC_CONFIG": str(tmp_path / "absent.toml")})


def test_a_custom_agent_type_is_parsed(config_file):
    config = load(config_file(
        "[agents.custom_types.data_engineer]\n"
        'briefing = "You build the data pipelines."\n'
        'required_tools = ["dbt", "psql"]\n'
        "default_timeout = 90\n"
    ))

    assert config.custom_types == {
        "data_engineer": {
            "briefing": "You build the data pipelines.",
            "required_tools": ["dbt", "psql"],
            "default_timeout": 90.0,
        }
    }


def test_a_custom_agent_type_without_a_timeout_uses_none(config_file):
    config = load(config_file('[agents.custom_types.data_engineer]\nbriefing = "Pipelines."\n'))

    assert config.custom_types["data_engineer"]["default_timeout"] is None
    assert config.custom_types["data_engineer"]["required_tools"] == []


def test_a_custom_agent_type_with_an_unknown_key_is_an_error(config_file):
    with pytest.raises(ConfigError, match=r"\[agents\.custom_types\.data_engineer\].*allowed keys"):
        load(config_file('[agents.custom_types.data_engineer]\nbriefing = "x"\ncolour = "red"\n'))


@pytest.mark.parametrize("timeout", ['"soon"', "0", "-5", "100000"])
def test_a_custom_agent_type_with_a_bad_timeout_is_an_error(config_file, timeout):
    with pytest.raises(ConfigError, match=r"\[agents\.custom_types\.data_engineer\].*seconds"):
        load(config_file(f"[agents.custom_types.data_engineer]\ndefault_timeout = {timeout}\n"))


def test_a_custom_agent_type_with_a_bad_name_is_an_error(config_file):
    with pytest.raises(ConfigError, match=r"\[agents\.custom_types\.DataEngineer\]"):
        load(config_file('[agents.custom_types.DataEngineer]\nbriefing = "x"\n'))


def _run_cli(*args: str, **environ: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **environ}
    return subprocess.run([str(TMUX_ORC), *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_cli_reports_a_bad_setting_in_one_line_without_a_traceback(config_file):
    result = _run_cli("status", **config_file(TMUX_ORC_PORT="abc"))

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "TMUX_ORC_PORT" in lines[0]
    assert "Traceback" not in result.stderr


def test_the_cli_reports_an_invalid_config_file_in_one_line_without_a_traceback(config_file):
    result = _run_cli("status", **config_file("[server\n"))

    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr
