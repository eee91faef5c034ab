"""A survey spread over a real Dask cluster: a Prefect server, a scheduler and two workers,
each a process of its own on loopback, started and stopped by the test."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.local_cluster import local_cluster

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    with local_cluster(root, n_workers=2) as (address, env):
        yield address, env, root


def _tasks(out):
    fc = json.loads((out / "tasks.geojson").read_text())["features"]
    return sorted((f["properties"]["task_id"], f["properties"]["category"],
                   round(f["properties"]["area_m2"], 2)) for f in fc)


def test_a_survey_on_two_dask_workers_gives_the_tasks_of_one_process(cluster, tiny_world,
                                                                     tmp_path):
    address, env, root = cluster
    inputs = [str(tiny_world / "epoch1" / "ortho.tif"), str(tiny_world / "epoch1" / "frames")]
    runs = {}
    for name, extra in (("local", []), ("dask", ["--dask-address", address])):
        out = tmp_path / name
        cmd = [str(BIN / "skypatrol"), "detect", *inputs, "--registry",
               str(tiny_world / "registry.gpkg"), "--out", str(out), "--cases",
               str(tmp_path / f"{name}.gpkg"), "--survey-id", "S1", "--date", "2026-04-01",
               *extra]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        runs[name] = _tasks(out)
    assert runs["dask"] == runs["local"] and runs["local"], "the same tasks (ids, areas)"
    worked = [k for k in (1, 2) if "detect_task" in (root / f"worker{k}.log").read_text()
              or "prepare_task" in (root / f"worker{k}.log").read_text()]
    assert worked == [1, 2], "the per-image tasks ran on both workers"
