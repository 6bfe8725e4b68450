"""The package map of docs/architecture.md holds: every module imports on its own, shared names
are spelled in one place, and what the cache hands out cannot be changed in place. (The allowed
imports between packages are import-linter's contracts in pyproject.toml.)"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import enum
import re
import subprocess
import sys
import types
import typing
from datetime import datetime
from pathlib import Path
from uuid import UUID

import pytest

from streamify.infra.cache import namespaces
from streamify.infra.cache.tier import Namespace

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "streamify"


def all_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] != "__main__":
            names.append(".".join(parts))
    return names


@pytest.mark.slow
async def test_every_module_imports_on_its_own_in_a_fresh_interpreter() -> None:
    gate = asyncio.Semaphore(4)

    async def import_alone(module: str) -> tuple[str, int, str]:
        async with gate:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                f"import {module}",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=ROOT,
            )
            _, err = await proc.communicate()
            return module, proc.returncode or 0, err.decode()[-400:]

    results = await asyncio.gather(*(import_alone(m) for m in all_modules()))
    failed = {m: err for m, code, err in results if code != 0}
    assert len(results) > 50
    assert failed == {}


def test_the_worker_loads_no_request_machinery() -> None:
    script = (
        "import sys, streamify.pipelines.transcode.flow; "
        "print(sorted({'.'.join(m.split('.')[1:3]) for m in sys.modules"
        " if m.startswith('streamify.')}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    for package in ("loaders", "resolvers", "schema", "web", "devtools"):
        assert not re.search(rf"'{package}[.']", loaded), loaded
    for package in ("pipelines.triggers", "pipelines.sweeps"):
        assert f"'{package}'" not in loaded, loaded
    assert "'pipelines.transcode'" in loaded
    assert re.search(r"'writes[.']", loaded) and re.search(r"'infra[.']", loaded), loaded


def test_import_contracts_hold() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(linter), "--no-cache"], check=False, capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


# Spellings of shared names: object keys, Redis key prefixes and channels.
SHARED_NAMES = {
    "raw source key": re.compile(r"^uploads/"),
    "media key": re.compile(r"^videos/"),
    "generation key": re.compile(r"gen:$|^gen:"),
    "L1-drop channel": re.compile(r"l1-drop"),
    "rate-limit key": re.compile(r"rate:$|^rate:"),
    "persisted-query key": re.compile(r"\{apq\}"),
    "heartbeat key": re.compile(r"processing:$|^processing:"),
    "processing channel": re.compile(r"\{processing\}"),
    "subscription-lease key": re.compile(r"subs:$|^subs:"),
    "deployment name": re.compile(r"^transcode-video"),
}


def _string_parts(tree: ast.AST) -> list[tuple[str, int]]:
    """Every string constant and literal part of an f-string, outside docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docstrings.add(id(value))
    return [
        (node.value, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_shared_names_are_spelled_in_one_place() -> None:
    found: dict[str, set[str]] = {what: set() for what in SHARED_NAMES}
    for path in PACKAGE.rglob("*.py"):
        for text, line in _string_parts(ast.parse(path.read_text())):
            for what, pattern in SHARED_NAMES.items():
                if pattern.search(text):
                    found[what].add(f"{path.relative_to(ROOT)}:{line}")
    for what, places in found.items():
        files = {place.split(":")[0] for place in places}
        assert files == {"streamify/names.py"}, f"{what} spelled in {sorted(places)}"


IMMUTABLE_LEAVES = (str, int, float, bool, bytes, UUID, datetime, type(None))


def _immutable(hint: object, seen: set[object]) -> list[str]:
    """Why `hint` could be changed in place (empty when it cannot)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return [why for arg in typing.get_args(hint) for why in _immutable(arg, seen)]
    if origin is tuple:
        return [
            why for arg in typing.get_args(hint) if arg is not ... for why in _immutable(arg, seen)
        ]
    if origin is not None:
        return [f"{hint} is mutable"]
    if isinstance(hint, type) and (
        issubclass(hint, IMMUTABLE_LEAVES) or issubclass(hint, enum.Enum)
    ):
        return []
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if hint in seen:
            return []
        seen.add(hint)
        problems = [] if hint.__dataclass_params__.frozen else [f"{hint.__name__} is not frozen"]  # type: ignore[attr-defined]
        for name, field_hint in typing.get_type_hints(hint).items():
            problems += [f"{hint.__name__}.{name}: {why}" for why in _immutable(field_hint, seen)]
        return problems
    return [f"{hint} is not known to be immutable"]


@pytest.mark.parametrize("namespace", namespaces.ALL, ids=lambda ns: ns.name)
def test_cached_values_cannot_be_changed_in_place(namespace: Namespace[object]) -> None:
    assert _immutable(namespace.type, set()) == []


def test_the_immutability_check_catches_a_list() -> None:
    @dataclasses.dataclass(frozen=True)
    class Leaky:
        tags: list[str]

    @dataclasses.dataclass
    class Open:
        name: str

    assert _immutable(Leaky, set()) == ["Leaky.tags: list[str] is mutable"]
    assert _immutable(Open, set()) == ["Open is not frozen"]


def test_the_design_cards_parts_exist_under_their_names() -> None:
    for part in ("schema", "resolvers", "loaders", "pipelines", "infra"):
        assert (PACKAGE / part / "__init__.py").is_file(), part
    assert (ROOT / "tests").is_dir()
    for gone in ("core", "worker", "jobs"):
        assert not (PACKAGE / gone).exists(), gone
