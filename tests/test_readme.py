"""The README is a contract: its links stay inside the repository and resolve, every setting it
names exists, every command and script it names exists with the options it shows."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from streamify.cli import cli
from streamify.infra.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SETTINGS = {f"STREAMIFY_{name.upper()}" for name in Settings.model_fields}


def test_links_stay_inside_the_repository_and_resolve() -> None:
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert links, "the README links its architecture document at least"
    for link in links:
        assert "://" not in link and not link.startswith(".."), link
        assert (ROOT / link.split("#")[0]).exists(), link
    assert "shared/" not in README


def _names_in(text: str) -> list[str]:
    """Settings named in `text`: full names, and `_SUFFIX` shorthands after a full name."""
    found = []
    last = ""
    for token in re.findall(r"`(STREAMIFY_[A-Z0-9_]+|_[A-Z0-9_]+)`", text):
        if token.startswith("STREAMIFY_"):
            last = token
            found.append(token)
            continue
        parts = last.split("_")
        candidates = ["_".join(parts[:-k]) + token for k in range(1, len(parts))]
        found.append(next((c for c in candidates if c in SETTINGS), f"{last} + {token}"))
    return found


def test_every_setting_it_names_exists() -> None:
    named = _names_in(README)
    assert len(named) > 30
    unknown = [name for name in named if name not in SETTINGS and name != "STREAMIFY_"]
    assert unknown == []
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    bare = re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`", table)
    bare = [name for name in bare if not name.startswith("STREAMIFY_")]
    assert bare, "the table names some settings without their prefix"
    # Besides settings, the table names error codes; those must be codes the API sends.
    source = "\n".join(p.read_text() for p in (ROOT / "streamify").rglob("*.py"))
    codes = set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', source))
    assert [n for n in bare if f"STREAMIFY_{n}" not in SETTINGS and n not in codes] == []


def test_every_command_and_script_it_names_exists() -> None:
    commands = typer.main.get_command(cli).commands  # type: ignore[attr-defined]
    shown = re.findall(r"`streamify (\w+)([^`]*)`", README)
    assert {name for name, _ in shown} >= {"dev", "serve", "migrate", "seed", "worker"}
    for name, rest in shown:
        assert name in commands, name
        options = {o for p in commands[name].params for o in p.opts}
        for option in re.findall(r"--[a-z-]+", rest):
            assert option in options, f"streamify {name} {option}"
    for script in set(re.findall(r"\./scripts/[\w.-]+\.sh", README)):
        assert (ROOT / script).is_file(), script
    for module in set(re.findall(r"python -m ([\w.]+)", README)):
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module
