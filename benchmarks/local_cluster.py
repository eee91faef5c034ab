"""A real Prefect server, Dask scheduler and workers on loopback, for tests and benchmarks.

Each is a process of its own (``prefect server start``, ``dask scheduler``, ``dask worker``,
one thread per worker), sharing ``PREFECT_API_URL``; all stop when the context ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout_s:.0f} s")


@contextmanager
def local_cluster(root: Path, n_workers: int = 2) -> Iterator[tuple[str, dict[str, str]]]:
    """Start the processes; yields the scheduler address and the environment to run with.

    Logs go to ``root/<process>.log``.
    """
    root.mkdir(parents=True, exist_ok=True)
    api_port, sched = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}/api"
    env = {**os.environ, "PREFECT_HOME": str(root / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "YOLO_OFFLINE": "true"}
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[IO[str]] = []

    def start(name: str, cmd: list[str]) -> None:
        log = open(root / f"{name}.log", "w")  # noqa: SIM115 - closed when the context ends
        logs.append(log)
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))

    try:
        start("prefect", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                          "--port", str(api_port)])
        start("scheduler", [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                            str(sched), "--no-dashboard"])
        for k in range(1, n_workers + 1):
            start(f"worker{k}", [str(BIN / "dask"), "worker", f"tcp://127.0.0.1:{sched}",
                                 "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
                                 "--no-dashboard", "--name", f"w{k}"])
        _wait_http(api + "/health", 180)
        from distributed import Client

        with Client(f"tcp://127.0.0.1:{sched}", timeout=60) as client:
            client.wait_for_workers(n_workers, timeout=120)
        yield f"tcp://127.0.0.1:{sched}", env
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
