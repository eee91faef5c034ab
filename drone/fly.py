"""Fly every mission of a plan: a real Tello at its address, or the simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
from shapely.geometry import MultiPoint

from drone.executor import ExecConfig, execute
from drone.plan import load_plan


def missions_by_open_cases(plan: dict[str, Any], cases: Path | None) -> list[dict[str, Any]]:
    """Missions ordered so those over open cases fly first (re-survey to verify rectification)."""
    missions = list(plan["missions"])
    if cases is None or not Path(cases).exists():
        return missions
    reg = gpd.read_file(cases, layer="cases")
    open_ = reg[reg.status == "open"].to_crs(plan["crs"]).geometry
    if len(open_) == 0:
        return missions

    def n_open(m: dict[str, Any]) -> int:
        area = MultiPoint([(w["x"], w["y"]) for w in m["waypoints"]]).convex_hull.buffer(10)
        return int(open_.intersects(area).sum())

    return sorted(missions, key=lambda m: (-n_open(m), m["index"]))


def fly_plan(plan_dir: Path | str, out: Path | str, host: str = "192.168.10.1",
             world: Path | None = None, epoch: int = 1, cases: Path | None = None,
             config: ExecConfig | None = None) -> list[dict[str, Any]]:
    """Fly each mission with djitellopy's ``Tello``; with ``world``, against the simulator.

    Returns the flight logs (also written beside the captures in ``out``).
    """
    from djitellopy import Tello

    plan = load_plan(plan_dir)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = []
    for mission in missions_by_open_cases(plan, cases):
        if world is not None:
            from drone.simnet import TELLO_IP, namespace, start_simulator, stop

            with namespace() as ns:
                proc = start_simulator(ns, Path(world), (mission["takeoff"]["x"],
                                                         mission["takeoff"]["y"]),
                                       out_dir / f".sim_state_{mission['index']}.json",
                                       epoch=epoch, time_scale=0.1)
                try:
                    logs.append(execute(mission, Tello(TELLO_IP), out_dir, config))
                finally:
                    stop(proc)
        else:
            logs.append(execute(mission, Tello(host), out_dir, config))
    (out_dir / "flight_logs.json").write_text(json.dumps(logs, indent=2), encoding="utf-8")
    return logs
