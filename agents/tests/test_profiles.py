"""Profiles as configured: the new fields are checked, versions are compared, and
`tmux-orc profiles check` says what it found (real programs: small scripts here)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from agents.profiles import all_profiles, version_check
from orchestrator.config import ConfigError


def configure(monkeypatch, **profiles):
    monkeypatch.setattr(settings.TMUX_ORC, "profiles", profiles)
    return all_profiles()


def test_a_profile_names_its_placeholders_pacing_and_how_it_resumes(monkeypatch):
    profile = configure(monkeypatch, mine={
        "command": "mine --fast", "input_style": "prompt", "input_marker": "›", "input_placeholders": ["Ask me.*"],
        "submit_delay": 0.25, "busy_after_submit": 2, "resume_args": ["--continue"], "version": "1.2.3",
        "version_args": ["version"]})["mine"]
    assert (profile.input_placeholders, profile.submit_delay, profile.busy_after_submit) == (("Ask me.*",), 0.25, 2.0)
    assert (profile.resume_args, profile.version_args, profile.version) == (("--continue",), ("version",), "1.2.3")


@pytest.mark.parametrize("spec, error", [
    ({"input_style": "boxy"}, r"input_style must be one of '', 'box', 'prompt', 'bar', 'line'"),
    ({"submit_delay": "fast"}, r"submit_delay must be a number of seconds from 0 to 60"),
    ({"busy_after_submit": 600}, r"busy_after_submit must be a number of seconds from 0 to 60"),
    ({"input_placeholders": ["(unclosed"]}, r"input_placeholders: '\(unclosed' is not a regular expression"),
    ({"resume_args": "--continue"}, r"resume_args must be a list of strings"),
])
def test_a_bad_profile_setting_is_refused_naming_it(monkeypatch, spec, error):
    with pytest.raises(ConfigError, match=r"\[agents.profiles.codex\].*" + error):
        configure(monkeypatch, codex=spec)


@pytest.fixture
def program(tmp_path):
    """A program that prints its version the way agent programs do."""
    def make(output: str, code: int = 0):
        path = tmp_path / "prog"
        path.write_text(f"#!{sys.executable}\nimport sys\nprint({output!r})\nsys.exit({code})\n")
        path.chmod(0o755)
        return str(path)
    return make


@pytest.mark.parametrize("output, expected, status", [
    ("codex-cli 0.171.0", "0.171.0", "ok"),
    ("2.1.198 (Claude Code)", "2.1.197", "different"),
    ("no version here", "1.0.0", "failed"),
    ("aider 0.86.2", "", "unknown"),
])
def test_the_installed_version_is_compared_with_the_one_the_markers_came_from(monkeypatch, program, output,
                                                                                 expected, status):
    profile = configure(monkeypatch, mine={"command": program(output), "version": expected})["mine"]
    check = version_check(profile)
    assert check.status == status, check.detail
    if status == "different":
        assert check.found == "2.1.198" and "read from 2.1.197" in check.detail


def test_a_program_not_installed_says_so(monkeypatch):
    profile = configure(monkeypatch, mine={"command": "/nonexistent/agent-program"})["mine"]
    assert version_check(profile).status == "not installed"


def run_cli(*args, env_profiles: str, tmp_path) -> subprocess.CompletedProcess:
    config = tmp_path / "orchestrator.toml"
    config.write_text(env_profiles)
    env = {"PATH": "/usr/bin:/bin", "TMUX_ORC_CONFIG": str(config), "TMUX_ORC_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", "profiles", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_profiles_check_prints_each_program_and_fails_on_a_different_version(program, tmp_path):
    program("theirs 2.0.0")
    other_path = tmp_path / "other"
    (tmp_path / "prog").rename(other_path)
    same = program("mine 1.0.0")
    config = (f'[agents.profiles.mine]\ncommand = "{same}"\nversion = "1.0.0"\n'
              f'[agents.profiles.theirs]\ncommand = "{other_path}"\nversion = "1.5.0"\n')

    both = run_cli("check", env_profiles=config, tmp_path=tmp_path)
    mine = run_cli("check", "mine", env_profiles=config, tmp_path=tmp_path)
    unknown = run_cli("check", "nope", env_profiles=config, tmp_path=tmp_path)

    assert both.returncode == 1, both.stderr
    rows = {line.split()[0]: line for line in both.stdout.splitlines()[1:]}
    assert "different" in rows["theirs"] and "2.0.0 installed, but the screen markers were read from 1.5.0" in rows["theirs"]
    assert " ok " in rows["mine"] and "not installed" in rows["aider"]
    assert mine.returncode == 0 and "theirs" not in mine.stdout
    assert unknown.returncode == 2 and "no profile nope" in unknown.stderr and "Traceback" not in unknown.stderr


@pytest.mark.django_db
def test_the_worker_records_a_different_version_and_health_lists_it(monkeypatch, program):
    from monitoring.selectors import system_health
    from monitoring.services import profile_versions_record

    configure(monkeypatch, mine={"command": program("mine 3.1.0"), "version": "3.0.0"})

    checks = profile_versions_record(host="h1")

    assert [c.status for c in checks if c.profile == "mine"] == ["different"]
    assert "3.1.0 installed" in system_health()["profile_versions"]["h1"]["mine"]
