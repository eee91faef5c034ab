"""A survey spread over a real Dask cluster: a Prefect server, a scheduler and two workers,
each a process of its own on loopback, started and stopped by the test."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url, timeout_s):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    api = f"http://127.0.0.1:{_port()}/api"
    env = {**os.environ, "PREFECT_HOME": str(root / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "YOLO_OFFLINE": "true"}
    sched = _port()
    procs, logs = [], []

    def start(name, cmd):
        log = open(root / f"{name}.log", "w")  # noqa: SIM115 - closed at teardown
        logs.append(log)
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))

    try:
        start("prefect", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                          "--port", api.split(":")[2].split("/")[0]])
        start("scheduler", [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                            str(sched), "--no-dashboard"])
        for k in (1, 2):
            start(f"worker{k}", [str(BIN / "dask"), "worker", f"tcp://127.0.0.1:{sched}",
                                 "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
                                 "--no-dashboard", "--name", f"w{k}"])
        _wait_http(api + "/health", 180)
        from distributed import Client

        with Client(f"tcp://127.0.0.1:{sched}", timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield f"tcp://127.0.0.1:{sched}", env, root
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in logs:
            log.close()


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
