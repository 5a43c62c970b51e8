"""Screen classification and input reading, on screens captured from the real programs."""

from pathlib import Path

import pytest

from agents.models import AgentState
from agents.profiles import BUILTIN_PROFILES
from agents.screens import classify_screen, input_text

SCREENS = Path(__file__).parent / "screens"
CLAUDE = BUILTIN_PROFILES["claude"]
SHELL = BUILTIN_PROFILES["shell"]


def screen(name: str) -> str:
    return (SCREENS / name).read_text()


@pytest.mark.parametrize(
    "name, state",
    [
        ("claude/idle.txt", AgentState.IDLE),
        ("claude/idle_after_turn.txt", AgentState.IDLE),  # "✻ Sautéed for 5s" is done, not working
        ("claude/idle_with_text_in_input.txt", AgentState.IDLE),
        ("claude/idle_with_pasted_text.txt", AgentState.IDLE),
        ("claude/working.txt", AgentState.WORKING),
        ("claude/waiting_approval.txt", AgentState.WAITING_APPROVAL),  # old "❯" lines above must not count
    ],
)
def test_claude_code_screens(name, state):
    assert classify_screen(screen(name), CLAUDE) == state


def test_claude_code_compacting_is_working_even_with_the_input_box_shown():
    compacting = screen("claude/idle.txt").replace("\n\n\n───", "\n✻ Compacting conversation…\n\n───", 1)
    assert classify_screen(compacting, CLAUDE) == AgentState.WORKING


def test_claude_code_footer_effort_marker_is_not_a_state():
    idle = screen("claude/idle.txt")
    assert "● high · /effort" in idle and classify_screen(idle, CLAUDE) == AgentState.IDLE


@pytest.mark.parametrize(
    "name, text",
    [
        ("claude/idle.txt", ""),
        ("claude/idle_after_turn.txt", ""),
        ("claude/idle_with_text_in_input.txt", "be slow"),
        ("claude/idle_with_pasted_text.txt", "[Pasted text #1 +1000 lines]"),
        ("claude/waiting_approval.txt", None),
    ],
)
def test_claude_code_input_box(name, text):
    assert input_text(screen(name), CLAUDE) == text


def test_a_multi_line_claude_code_input_is_read_whole():
    box = "─" * 40 + "\n❯ hello; world\n  second line\n" + "─" * 40 + "\n  ctrl+g to edit in Vim\n"
    assert input_text(box, CLAUDE) == "hello; world\nsecond line"


def test_shell_prompt_and_input():
    assert classify_screen("root@host:~# ", SHELL) == AgentState.IDLE
    assert input_text("root@host:~# ", SHELL) == ""
    assert input_text("out\nroot@host:~# echo hi", SHELL) == "echo hi"
    assert classify_screen("compiling...\n[####      ]", SHELL) is None


def test_profiles_without_readable_input_say_so():
    assert input_text(screen("claude/idle.txt"), BUILTIN_PROFILES["codex"]) is None


def test_claude_code_reply_is_read_after_the_message():
    from agents.screens import reply_after

    assert reply_after(screen("claude/idle_after_turn.txt"), "work slowly", CLAUDE) == "● Thinking done."


def test_shell_reply_is_the_output_before_the_next_prompt():
    from agents.screens import reply_after

    text = "root@h:~# echo one\nroot@h:~# ls\na.txt\nb.txt\nroot@h:~# "
    assert reply_after(text, "ls", SHELL) == "a.txt\nb.txt"
    assert reply_after(text, "never sent", SHELL) == ""


# Screens of Codex, Aider, Gemini CLI and opencode, kept by agents/tests/test_agent_programs.py
# (TMUX_ORC_KEEP_SCREENS=1) from the versions their profiles name.
PROGRAM_SCREENS = [
    ("idle", AgentState.IDLE, ""),
    ("typed", AgentState.IDLE, "half a thought\nand a second line"),
    ("working", AgentState.WORKING, None),
    ("waiting_approval", AgentState.WAITING_APPROVAL, None),
    ("denied", AgentState.IDLE, ""),
]


@pytest.mark.parametrize("program", ["codex", "aider", "gemini", "opencode"])
@pytest.mark.parametrize("name, state, text", PROGRAM_SCREENS)
def test_agent_program_screens(program, name, state, text):
    profile = BUILTIN_PROFILES[program]
    shown = screen(f"{program}/{name}.txt")
    assert classify_screen(shown, profile) == state
    if text is not None:
        assert input_text(shown, profile) == text


def test_a_placeholder_that_stays_while_the_program_works_is_not_idleness():
    working = screen("codex/working.txt")
    assert "Ask Codex to do anything" in working
    assert classify_screen(working, BUILTIN_PROFILES["codex"]) == AgentState.WORKING


def test_an_answered_aider_question_is_not_a_prompt_any_more():
    asked = screen("aider/waiting_approval.txt").rstrip("\n")
    answered = asked + " y\nRunning touch approved.txt\n" + "─" * 40 + "\ndiff>\n"
    assert classify_screen(answered, BUILTIN_PROFILES["aider"]) == AgentState.IDLE


def test_opencode_side_panel_text_is_not_input():
    idle = screen("opencode/idle.txt").splitlines()
    edge = max(i for i, line in enumerate(idle) if line.lstrip().startswith("╹"))
    idle[edge - 2] = idle[edge - 2].ljust(len(idle[edge]) + 5) + "/tmp/some/project"
    assert input_text("\n".join(idle), BUILTIN_PROFILES["opencode"]) == ""


def test_prompt_lines_above_a_shell_prompt_are_history_not_input():
    shell = BUILTIN_PROFILES["shell"]
    assert input_text("$ cd project\n$ ", shell) == ""
    assert input_text("$ cd project\n$ make", shell) == "make"
    aider = BUILTIN_PROFILES["aider"]
    assert input_text("─" * 40 + "\ndiff> one\ndiff> two", aider) == "one\ntwo"
