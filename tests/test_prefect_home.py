"""Concurrent first runs on a fresh Prefect home: the database is made once, under a lock."""

import os
import subprocess
import sys

import pytest

FIRST_RUN = """
from skypatrol.prefect_home import prepare_prefect_home
prepare_prefect_home()
from prefect import flow

@flow
def probe():
    return 41 + 1

print("result", probe())
"""


@pytest.mark.slow
def test_four_first_runs_at_once_on_a_fresh_prefect_home(tmp_path):
    """Without the lock, concurrent first runs race on the migrations ("duplicate column
    name", "table ... already exists") and fail."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home"),
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    procs = [subprocess.Popen([sys.executable, "-c", FIRST_RUN], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(4)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outs
    assert all("result 42" in o for o in outs)
    assert (tmp_path / "home" / "prefect.db.skypatrol-ready").exists()


def test_a_configured_server_needs_no_local_database(monkeypatch):
    from skypatrol.prefect_home import prepare_prefect_home

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert prepare_prefect_home() is None
