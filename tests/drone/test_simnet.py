"""The simulator's network namespace cleans up after hosts that died without doing so."""

import os
import shutil
import subprocess

import pytest

from drone.simnet import SimulatorUnavailable, _clear_stale

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="network namespaces need root and iproute2")


def _dead_pid() -> int:
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    return pid


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_a_dead_hosts_namespace_is_removed():
    tag = _dead_pid()
    subprocess.run(["ip", "netns", "add", f"skysim{tag}"], check=True)
    try:
        _clear_stale()
        assert f"skysim{tag}" not in _namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", f"skysim{tag}"], capture_output=True)


def test_a_live_hosts_namespace_is_not_taken_over():
    sleeper = subprocess.Popen(["sleep", "30"])
    subprocess.run(["ip", "netns", "add", f"skysim{sleeper.pid}"], check=True)
    try:
        with pytest.raises(SimulatorUnavailable, match=f"skysim{sleeper.pid}"):
            _clear_stale()
        assert f"skysim{sleeper.pid}" in _namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", f"skysim{sleeper.pid}"], capture_output=True)
        sleeper.kill()
