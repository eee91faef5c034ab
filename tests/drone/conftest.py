"""The Tello simulator at 192.168.10.1 in a network namespace (skips where impossible)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drone.simnet import SimulatorUnavailable, namespace, start_simulator, stop


@pytest.fixture(scope="session")
def sim_netns():
    try:
        with namespace() as ns:
            yield ns
    except SimulatorUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def start_sim(sim_netns, tmp_path):
    procs = []

    def start(world: Path, takeoff: tuple[float, float], *extra: str) -> Path:
        state = tmp_path / f"sim_state_{len(procs)}.json"
        procs.append(start_simulator(sim_netns, world, takeoff, state, extra, time_scale=0.05))
        return state

    yield start
    for p in procs:
        stop(p)


def final_state(path: Path) -> dict:
    return json.loads(path.read_text())["final"]
