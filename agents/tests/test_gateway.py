"""The tmux gateway on real tmux: a private server per test (the `gateway` fixture)."""

from __future__ import annotations

import os
import random
import string
import subprocess
import sys
from pathlib import Path

import pytest

from agents import gateway as gateway_module
from agents.gateway import (
    Gateway,
    TargetNotFound,
    TmuxNotRunning,
    WindowSpec,
    shell_command,
)
from conftest import RECORDER, wait_for

SLEEPER = shell_command(["sleep", "1000"])
END = "<end-of-test>"


def _mixed_text(length: int) -> str:
    alphabet = string.ascii_letters + string.digits + string.punctuation + " \t" + "\n" * 8 + "éü✅"
    return "".join(random.Random(20_000).choices(alphabet, k=length))


HOSTILE_TEXTS = [
    pytest.param("please commit;", id="trailing-semicolon"),
    pytest.param("escaped \\;", id="backslash-semicolon"),
    pytest.param("-x is a flag", id="leading-dash"),
    pytest.param("-- -x", id="double-dash-then-flag"),
    pytest.param("C-c", id="key-name-C-c"),
    pytest.param("Enter", id="key-name-Enter"),
    pytest.param("Escape", id="key-name-Escape"),
    pytest.param("echo $HOME", id="shell-variable"),
    pytest.param("run `id` now", id="backticks"),
    pytest.param("it's 'quoted'", id="single-quotes"),
    pytest.param('say "hi"', id="double-quotes"),
    pytest.param("#(touch {pwned})", id="tmux-shell-format"),
    pytest.param("#{pane_id}", id="tmux-format"),
    pytest.param("col1\tcol2", id="tab"),
    pytest.param("héllo wörld", id="unicode"),
    pytest.param("🚀✅", id="emoji"),
    pytest.param("\n".join(["first line", "second line;", "", "fourth line"]), id="several-lines"),
    pytest.param(_mixed_text(20_000), id="20k-mixed"),
]


def _recorded(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def _start_recorder(gateway: Gateway, project_dir: str, record_to: Path, session: str = "rec") -> str:
    spec = WindowSpec(
        session, "recorder", shell_command([sys.executable, str(RECORDER)]), cwd=project_dir,
        env={"RECORD_TO": str(record_to)},
    )
    pane_id = gateway.create_window(spec).pane_id
    wait_for(
        lambda: "recorder ready" in gateway.capture_panes([pane_id]).get(pane_id, ""),
        message="the recorder to start",
    )
    return pane_id


def _pane(gateway: Gateway, pane_id: str):
    return next((p for p in gateway.list_panes() if p.pane_id == pane_id), None)


def _create_sleepers(gateway: Gateway, session: str, count: int, cwd: str):
    return gateway.create_windows([WindowSpec(session, f"w{i}", SLEEPER, cwd=cwd) for i in range(count)])


@pytest.fixture
def count_tmux_processes(monkeypatch):
    """A list that receives the argv of every tmux process this test starts from now on."""
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    def counting_popen(args, *rest, **kwargs):
        if Path(str(args[0])).name == "tmux":
            started.append(list(args))
        return real_popen(args, *rest, **kwargs)

    monkeypatch.setattr("libtmux.common.subprocess.Popen", counting_popen)
    return started


# -- typing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("template", HOSTILE_TEXTS)
def test_hostile_text_arrives_as_exactly_its_bytes(gateway, project_dir, tmp_path, template):
    pwned = tmp_path / "pwned"
    text = template.replace("{pwned}", str(pwned))
    record_to = tmp_path / "received.bin"
    pane_id = _start_recorder(gateway, project_dir, record_to)

    gateway.type_text(pane_id, text)

    expected = text.encode()
    wait_for(lambda: len(_recorded(record_to)) >= len(expected), message="the text to arrive")
    assert _recorded(record_to) == expected
    assert not pwned.exists(), "tmux ran the #( ) command instead of typing it"


@pytest.mark.parametrize("template", HOSTILE_TEXTS)
def test_text_typed_once_arrives_once(gateway, project_dir, tmp_path, template):
    text = template.replace("{pwned}", str(tmp_path / "pwned"))
    record_to = tmp_path / "received.bin"
    pane_id = _start_recorder(gateway, project_dir, record_to)

    gateway.type_text(pane_id, text)
    gateway.type_text(pane_id, END)  # tmux types in order: a repeat of `text` would come first

    wait_for(lambda: _recorded(record_to).endswith(END.encode()), message="the end marker to arrive")
    received = _recorded(record_to)
    assert len(received) == len(text.encode()) + len(END)
    assert received == text.encode() + END.encode()


def test_message_ending_in_semicolon_arrives_intact(gateway, project_dir, tmp_path):
    record_to = tmp_path / "received.bin"
    pane_id = _start_recorder(gateway, project_dir, record_to)

    gateway.type_text(pane_id, "first;")
    gateway.type_text(pane_id, "second\\;")

    wait_for(lambda: len(_recorded(record_to)) >= len("first;second\\;"), message="both texts")
    assert _recorded(record_to) == b"first;second\\;"


def test_empty_text_types_nothing(gateway, project_dir, tmp_path):
    record_to = tmp_path / "received.bin"
    pane_id = _start_recorder(gateway, project_dir, record_to)

    gateway.type_text(pane_id, "")
    gateway.type_text(pane_id, END)

    wait_for(lambda: _recorded(record_to).endswith(END.encode()), message="the end marker")
    assert _recorded(record_to) == END.encode()


# -- creating windows -----------------------------------------------------------------------


def test_create_windows_creates_each_in_new_and_existing_sessions(gateway, project_dir):
    gateway.create_window(WindowSpec("existing", "first", SLEEPER, cwd=project_dir))
    specs = [
        WindowSpec("fresh", "a", SLEEPER, cwd=project_dir),
        WindowSpec("existing", "b", SLEEPER, cwd=project_dir),
        WindowSpec("fresh", "c", SLEEPER, cwd=project_dir),
        WindowSpec("existing", "d", SLEEPER, cwd=project_dir),
        WindowSpec("other", "e", SLEEPER, cwd=project_dir),
    ]

    created = gateway.create_windows(specs)

    panes = {p.pane_id: p for p in gateway.list_panes()}
    assert len(created) == len(specs)
    for spec, window in zip(specs, created):
        pane = panes[window.pane_id]
        assert (pane.session_name, pane.window_name) == (spec.session_name, spec.window_name)
        assert (pane.session_id, pane.window_id, pane.pid) == (window.session_id, window.window_id, window.pid)
    assert len({w.window_id for w in created}) == len(specs)


def test_created_windows_have_remain_on_exit(gateway, project_dir):
    gateway.create_window(WindowSpec("existing", "first", SLEEPER, cwd=project_dir))
    created = gateway.create_windows(
        [
            WindowSpec("fresh", "a", SLEEPER, cwd=project_dir),
            WindowSpec("fresh", "b", SLEEPER, cwd=project_dir),
            WindowSpec("existing", "c", SLEEPER, cwd=project_dir),
        ]
    )

    for window in created:
        assert gateway.run([["show-options", "-w", "-v", "-t", window.window_id, "remain-on-exit"]]) == ["on"]


def _dead_with_status(gateway: Gateway, pane_id: str):
    """The pane once tmux reports it dead with an exit status, else None.

    This host's tmux (3.3a, built with libutempter) can lose the SIGCHLD of a pane whose
    program exits while tmux is removing the pane's utmp record; the child then stays a zombie
    and the pane dead without a status until any other child of the server exits. A
    `run-shell true` is such a child, so while the status is missing we make one.
    """
    pane = _pane(gateway, pane_id)
    if pane is None or not pane.dead:
        return None
    if pane.dead_status is None:
        gateway.run([["run-shell", "true"]])
        return None
    return pane


@pytest.mark.parametrize("session_exists", [False, True], ids=["new-session", "existing-session"])
def test_window_whose_program_exits_stays_and_is_reported_dead(gateway, project_dir, session_exists):
    if session_exists:
        gateway.create_window(WindowSpec("team", "keeper", SLEEPER, cwd=project_dir))

    window = gateway.create_window(WindowSpec("team", "quitter", "exit 3", cwd=project_dir))

    pane = wait_for(lambda: _dead_with_status(gateway, window.pane_id), message="the pane to be reported dead")
    assert pane.dead_status == 3
    assert pane.window_id == window.window_id


def test_session_name_is_used_verbatim(gateway, project_dir):
    window = gateway.create_window(WindowSpec("ab-c_1", "main", SLEEPER, cwd=project_dir))
    again = gateway.create_window(WindowSpec("ab-c_1", "second", SLEEPER, cwd=project_dir))

    assert gateway.run([["list-sessions", "-F", "#{session_name}"]]) == ["ab-c_1"]
    gateway.run([["has-session", "-t", "=ab-c_1"]])  # raises TargetNotFound if tmux renamed it
    assert gateway.run([["display-message", "-p", "-t", "=ab-c_1:", "#{session_id}"]]) == [window.session_id]
    assert again.session_id == window.session_id


def _hostile_directory(parent: Path, text: str) -> Path:
    """`text` as a directory below `parent`, made: its '/' separate directories, at most 200
    bytes (a name's limit is 255)."""
    path = Path(os.path.realpath(f"{parent}/{text.encode()[:200].decode(errors='ignore')}"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("template", HOSTILE_TEXTS)
def test_a_hostile_directory_is_the_window_s_directory_and_runs_nothing(gateway, tmp_path, template):
    pwned = tmp_path / "pwned"
    directory = _hostile_directory(tmp_path / "in", template.replace("{pwned}", str(pwned)))
    said = tmp_path / "cwd.txt"
    report_cwd = shell_command([sys.executable, "-c", f"import os; open({str(said)!r}, 'w').write(os.getcwd())"])

    def cwd_said() -> str:
        return said.read_text() if said.exists() else ""

    for session in ("new", "new"):  # a new session first, then a window in it
        said.unlink(missing_ok=True)
        window = gateway.create_window(WindowSpec(session, "w", report_cwd, cwd=str(directory)))
        wait_for(cwd_said, message="the window's program to say where it runs")
        assert cwd_said() == str(directory)
    said.unlink()
    gateway.respawn(window.pane_id, command=report_cwd, cwd=str(directory), env={})
    wait_for(cwd_said, message="the respawned program to say where it runs")
    assert cwd_said() == str(directory)
    assert not pwned.exists(), "tmux ran the #( ) command in the directory's name"


# -- reading panes --------------------------------------------------------------------------


def test_list_panes_reports_pid_command_and_activity_of_every_pane(gateway, project_dir):
    created = _create_sleepers(gateway, "team", 3, project_dir)
    created += _create_sleepers(gateway, "other", 1, project_dir)

    panes = wait_for(
        lambda: (ps := gateway.list_panes()) and all(p.current_command == "sleep" for p in ps) and ps,
        message="every pane to run sleep",
    )
    by_id = {p.pane_id: p for p in panes}
    assert set(by_id) == {w.pane_id for w in created}
    for window in created:
        pane = by_id[window.pane_id]
        assert pane.pid == window.pid
        assert pane.activity > 0
        assert not pane.dead and pane.dead_status is None


def test_list_panes_is_empty_when_no_server_runs(gateway):
    assert gateway.list_panes() == []
    assert not gateway.is_running()


def test_capture_panes_returns_the_screen_of_each_pane(gateway, project_dir):
    specs = [
        WindowSpec("team", f"w{i}", f"printf 'screen of pane {i}\\n'; exec sleep 1000", cwd=project_dir)
        for i in range(12)  # ids past %9: every id is returned as asked
    ]
    created = gateway.create_windows(specs)
    pane_ids = [w.pane_id for w in created]

    def screens_ready():
        screens = gateway.capture_panes(pane_ids)
        return all(f"screen of pane {i}" in screens.get(p, "") for i, p in enumerate(pane_ids)) and screens

    screens = wait_for(screens_ready, message="every pane to print its line")
    assert set(screens) == set(pane_ids)
    for i, pane_id in enumerate(pane_ids):
        assert f"screen of pane {i}" in screens[pane_id]
        others = [f"screen of pane {j}\n" for j in range(12) if j != i]
        assert not any(other in screens[pane_id] + "\n" for other in others)


def test_capture_panes_with_colours_keeps_their_escape_sequences(gateway, project_dir):
    [window] = gateway.create_windows([WindowSpec(
        "team", "colours", "printf '\\033[31mred\\033[0m plain\\n'; exec sleep 1000", cwd=project_dir)])

    coloured = wait_for(lambda: "red" in (gateway.capture_panes([window.pane_id], colours=True).get(window.pane_id) or "")
                        and gateway.capture_panes([window.pane_id], colours=True)[window.pane_id],
                        message="the coloured line")
    plain = gateway.capture_panes([window.pane_id])[window.pane_id]

    assert "\x1b[31mred" in coloured and "plain" in coloured
    assert "\x1b" not in plain and "red plain" in plain


def test_capture_panes_leaves_out_panes_that_no_longer_exist(gateway, project_dir):
    kept, gone = _create_sleepers(gateway, "team", 2, project_dir)
    gateway.kill_window(gone.window_id)

    screens = gateway.capture_panes([kept.pane_id, gone.pane_id, "%999"])

    assert set(screens) == {kept.pane_id}


def test_capture_panes_of_no_live_pane_is_empty(gateway, project_dir):
    assert gateway.capture_panes([]) == {}
    _create_sleepers(gateway, "team", 1, project_dir)
    assert gateway.capture_panes(["%999"]) == {}


# -- respawn and kill -----------------------------------------------------------------------


def test_respawn_replaces_the_program_in_the_same_pane(gateway, project_dir):
    window = gateway.create_window(WindowSpec("team", "agent", SLEEPER, cwd=project_dir))

    new_pid = gateway.respawn(window.pane_id, command=shell_command(["sleep", "999"]), cwd=project_dir, env={})

    assert new_pid != window.pid
    pane = _pane(gateway, window.pane_id)
    assert pane.pid == new_pid
    assert pane.window_id == window.window_id


def test_respawn_brings_a_dead_pane_back(gateway, project_dir):
    window = gateway.create_window(WindowSpec("team", "agent", "exit 3", cwd=project_dir))
    wait_for(lambda: _pane(gateway, window.pane_id).dead, message="the pane to die")

    new_pid = gateway.respawn(window.pane_id, command=SLEEPER, cwd=project_dir, env={"A": "1"})

    pane = wait_for(lambda: (p := _pane(gateway, window.pane_id)).current_command == "sleep" and p,
                    message="sleep to run in the pane")
    assert not pane.dead
    assert pane.pid == new_pid


def test_kill_window_removes_it_and_a_gone_window_is_not_an_error(gateway, project_dir):
    keep, victim = _create_sleepers(gateway, "team", 2, project_dir)

    gateway.kill_window(victim.window_id)
    gateway.kill_window(victim.window_id)
    gateway.kill_window("@999")

    assert {p.pane_id for p in gateway.list_panes()} == {keep.pane_id}


def test_kill_window_on_a_stopped_server_is_not_an_error(gateway):
    gateway.kill_window("@1")


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda g: g.type_text("%999", "hello"), id="type_text"),
        pytest.param(lambda g: g.send_keys("%999", "Enter"), id="send_keys"),
        pytest.param(lambda g: g.respawn("%999", command=SLEEPER, cwd="/", env={}), id="respawn"),
    ],
)
def test_pane_that_does_not_exist_raises_target_not_found(gateway, project_dir, operation):
    _create_sleepers(gateway, "team", 1, project_dir)

    with pytest.raises(TargetNotFound) as raised:
        operation(gateway)

    assert type(raised.value).__module__ == "agents.gateway"
    assert raised.value.__cause__ is None


def test_failed_typing_leaves_no_paste_buffer(gateway, project_dir):
    _create_sleepers(gateway, "team", 1, project_dir)

    with pytest.raises(TargetNotFound):
        gateway.type_text("%999", "hello")

    assert gateway.run([["list-buffers", "-F", "#{buffer_name}"]]) == []


def test_typing_on_a_stopped_server_raises_tmux_not_running(gateway):
    with pytest.raises(TmuxNotRunning) as raised:
        gateway.type_text("%0", "hello")

    assert type(raised.value).__module__ == "agents.gateway"


# -- batching -------------------------------------------------------------------------------


def test_capture_of_ten_panes_is_one_tmux_process(gateway, project_dir, count_tmux_processes):
    pane_ids = [w.pane_id for w in _create_sleepers(gateway, "team", 10, project_dir)]
    count_tmux_processes.clear()

    screens = gateway.capture_panes(pane_ids)

    assert set(screens) == set(pane_ids)
    assert len(count_tmux_processes) == 1


def test_list_panes_is_one_tmux_process(gateway, project_dir, count_tmux_processes):
    _create_sleepers(gateway, "team", 10, project_dir)
    count_tmux_processes.clear()

    panes = gateway.list_panes()

    assert len(panes) == 10
    assert len(count_tmux_processes) == 1


def test_creating_five_windows_in_an_existing_session_is_at_most_two_tmux_processes(
    gateway, project_dir, count_tmux_processes
):
    gateway.create_window(WindowSpec("team", "first", SLEEPER, cwd=project_dir))
    count_tmux_processes.clear()

    created = _create_sleepers(gateway, "team", 5, project_dir)

    assert len(created) == 5
    assert len(count_tmux_processes) <= 2


def test_batches_longer_than_a_tmux_command_line_are_split_not_refused(
    gateway, project_dir, count_tmux_processes, monkeypatch
):
    # tmux refuses a command line over ~16 kB ("command too long"): about 70 new windows.
    created = _create_sleepers(gateway, "team", 200, project_dir)
    pane_ids = [w.pane_id for w in created]
    assert len(set(pane_ids)) == 200
    assert len(count_tmux_processes) >= 3

    # 200 panes fit one capture; with a tenth of the room they need several.
    count_tmux_processes.clear()
    monkeypatch.setattr(gateway_module, "MAX_COMMAND_BYTES", gateway_module.MAX_COMMAND_BYTES // 10)
    screens = gateway.capture_panes(pane_ids)

    assert set(screens) == set(pane_ids)
    assert len(count_tmux_processes) >= 5
