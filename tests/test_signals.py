"""A survey stopped by SIGTERM leaves no Prefect server and no temporary register behind."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest


@pytest.mark.slow
def test_sigterm_stops_the_survey_and_its_prefect_server(tiny_world, tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "skypatrol.cli", "detect",
         str(tiny_world / "epoch1" / "ortho.tif"), "--registry",
         str(tiny_world / "registry.gpkg"), "--out", str(tmp_path / "out"),
         "--date", "2026-04-01"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    parent = psutil.Process(proc.pid)
    children: list[psutil.Process] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        children = parent.children(recursive=True)
        if children:  # the ephemeral Prefect server is up: stop the survey now
            time.sleep(3)
            break
        time.sleep(0.5)
    assert children, "no Prefect server was started"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    gone, alive = psutil.wait_procs(children, timeout=60)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"
    assert b"Traceback" not in out
    assert not list(tmp_path.rglob("*.tmp.gpkg"))
