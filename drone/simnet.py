"""The simulator at the Tello's real address: a network namespace holding 192.168.10.1.

djitellopy binds UDP 8889 on all addresses (without SO_REUSEADDR), so a simulator on the same
host cannot listen beside it. A namespace with a veth pair gives the simulator its own
address; the client side gets 192.168.10.2. Needs root and iproute2.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from geodata.errors import SkypatrolError

TELLO_IP, CLIENT_IP = "192.168.10.1", "192.168.10.2"
REPO = Path(__file__).resolve().parents[1]


class SimulatorUnavailable(SkypatrolError, RuntimeError):
    """No network namespace can be made here (not root, or no iproute2)."""


def _run(*cmd: str) -> None:
    subprocess.run(list(cmd), check=True, capture_output=True, text=True)


def _clear_stale() -> None:
    """Remove namespaces left by simulator hosts that died without cleaning up.

    Their veth keeps ``CLIENT_IP`` on this host and would capture the route to the Tello's
    subnet. A namespace whose owner is still alive is in use: refuse rather than share it.
    """
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.match(r"skysim(\d+)\b", line.strip())
        if not m:
            continue
        tag = int(m.group(1))
        if tag != os.getpid() and Path(f"/proc/{tag}").exists():
            raise SimulatorUnavailable(f"network namespace skysim{tag} of the running process "
                                       f"{tag} already owns {TELLO_IP}")
        subprocess.run(["ip", "link", "del", f"vsky{tag}"], capture_output=True)
        subprocess.run(["ip", "netns", "del", f"skysim{tag}"], capture_output=True)


@contextmanager
def namespace(name: str | None = None) -> Iterator[str]:
    """Create a namespace holding ``TELLO_IP`` linked to this host as ``CLIENT_IP``."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise SimulatorUnavailable("the Tello simulator needs root and iproute2 "
                                   "(ip netns) to own the Tello's address 192.168.10.1")
    _clear_stale()
    tag = os.getpid()
    ns, host_if, sim_if = name or f"skysim{tag}", f"vsky{tag}", f"vsim{tag}"
    try:
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", sim_if)
        _run("ip", "link", "set", sim_if, "netns", ns)
        _run("ip", "addr", "add", f"{CLIENT_IP}/24", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{TELLO_IP}/24", "dev", sim_if)
        _run("ip", "netns", "exec", ns, "ip", "link", "set", sim_if, "up")
        _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        raise SimulatorUnavailable(f"cannot create a network namespace: {exc.stderr}") from exc
    try:
        yield ns
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def start_simulator(ns: str, world: Path, takeoff: tuple[float, float], state_log: Path,
                    extra: Sequence[str] = (), epoch: int = 1,
                    time_scale: float = 1.0) -> subprocess.Popen[bytes]:
    """Start ``python -m drone.simulator`` inside ``ns``; returns once it is serving."""
    cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "drone.simulator", "--world",
           str(world), "--epoch", str(epoch), "--takeoff", f"{takeoff[0]},{takeoff[1]}",
           "--time-scale", str(time_scale), "--state-log", str(state_log), *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    state_log.unlink(missing_ok=True)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(300):
        if state_log.exists():
            return proc
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SimulatorUnavailable(f"the simulator did not start: {err[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise SimulatorUnavailable("the simulator did not start within 30 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a simulator process."""
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
