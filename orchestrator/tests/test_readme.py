"""The README's examples are examples that work."""

import re

import pytest
from django.conf import settings

from agents.profiles import all_profiles
from conftest import ROOT
from orchestrator.config import load

README = (ROOT / "README.md").read_text()
TOML_BLOCKS = re.findall(r"```toml\n(.*?)```", README, re.S)


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=[f"toml-{i}" for i in range(len(TOML_BLOCKS))])
def test_config_examples_load(block, tmp_path, monkeypatch):
    path = tmp_path / "orchestrator.toml"
    path.write_text(block)

    config = load({"TMUX_ORC_CONFIG": str(path)})

    monkeypatch.setattr(settings.TMUX_ORC, "profiles", config.profiles)
    assert set(config.profiles) <= set(all_profiles())  # every profile in it is valid


def test_the_example_config_file_loads():
    config = load({"TMUX_ORC_CONFIG": str(ROOT / "config" / "orchestrator.example.toml")})
    assert "data_engineer" in config.custom_types


def test_readme_starts_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    assert [line.split()[0] for line in first_block.strip().splitlines()] == ["bin/run", "bin/test"]


def test_the_mcp_client_config_is_json_and_the_tools_listed_are_the_servers():
    import json

    from orchestrator.operations import all_operations

    block = next(b for b in re.findall(r"```json\n(.*?)```", README, re.S) if "mcpServers" in b)
    servers = json.loads(block)["mcpServers"]
    assert servers["tmux-orchestrator"]["url"].endswith("/mcp")
    assert servers["tmux-orchestrator-stdio"]["args"] == ["mcp"]
    listed = re.search(r"Tools: (.*?)\.\n", README, re.S).group(1)
    assert set(re.findall(r"`(\w+)`", listed)) == set(all_operations())
