"""Flow runs that start from a warm process.

Prefect's runner starts each flow run in a fresh process ("spawn"): a new interpreter that
imports Prefect and our flow's modules again, about 1.5 s of every upload's wait on this
machine before the flow's first step. A fork server does that import once: it is a fresh,
single-threaded process started with the worker, with the flow's modules imported, and each flow
run's process is forked from it, so it starts with everything loaded. The run itself is
handed over exactly as with spawn (pickled, environment and settings set in the child by
Prefect), so the runner sees the same kind of process.

Prefect chooses the start method inside `prefect.flow_engine.run_flow_in_subprocess`; its
runner documents that function as the place to override. We override only the choice."""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from collections.abc import Sequence
from types import ModuleType
from typing import Any

FLOW_MODULES = ("streamify.pipelines.transcode.flow",)


class _ForkServerForSpawn:
    """Stands in for the `multiprocessing` module inside prefect.flow_engine: the spawn
    context asked for is a fork server's; everything else is multiprocessing's own."""

    def __init__(self, preload: Sequence[str]) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(preload))

    def get_context(self, method: str | None = None) -> Any:
        if method == "spawn":
            return self._context
        return multiprocessing.get_context(method)

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing, name)


def start_flow_runs_warm(preload: Sequence[str] = FLOW_MODULES) -> None:
    """From now on, this process's flow runs start forked from a warm fork server, started
    (and warmed) now rather than by the first upload."""
    import prefect.flow_engine

    engine: ModuleType = prefect.flow_engine
    engine.multiprocessing = _ForkServerForSpawn(preload)  # type: ignore[attr-defined]
    multiprocessing.forkserver.ensure_running()
