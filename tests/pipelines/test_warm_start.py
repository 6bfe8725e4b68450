"""A flow run's process starts forked from a warm fork server: the flow's modules are already
imported when the run begins, and the run still gets its parameters and Prefect's settings."""

from __future__ import annotations

import json
import multiprocessing
import sys
from pathlib import Path

import prefect.flow_engine
import pytest
from prefect import flow

from streamify.pipelines.transcode import warm_start

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@flow
def report_modules(out: str) -> None:
    Path(out).write_text(json.dumps({"warm": "streamify.pipelines.transcode.flow" in sys.modules}))


def test_a_flow_run_starts_with_the_flow_modules_loaded(
    prefect_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Put back after the test, whatever start_flow_runs_warm sets.
    monkeypatch.setattr(prefect.flow_engine, "multiprocessing", multiprocessing)
    out = tmp_path / "seen.json"

    cold = prefect.flow_engine.run_flow_in_subprocess(report_modules, parameters={"out": str(out)})
    cold.join(60)
    assert cold.exitcode == 0
    assert json.loads(out.read_text()) == {"warm": False}  # spawn: a fresh interpreter

    warm_start.start_flow_runs_warm()
    warm = prefect.flow_engine.run_flow_in_subprocess(report_modules, parameters={"out": str(out)})
    warm.join(60)
    assert warm.exitcode == 0
    assert json.loads(out.read_text()) == {"warm": True}
