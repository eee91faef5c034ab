"""``survey_flight_flow``: plan a survey, fly it, and hand the captures to ``detect_flow``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE as NO_CACHE

from drone.fly import fly_plan
from drone.plan import PROFILES, PlanRequest, plan_survey, read_aoi, write_plan
from flows.detect import detect_flow


@task(cache_policy=NO_CACHE)
def plan_task(aoi: str, out: str, drone: str, altitude_m: float | None,
              gsd_cm: float | None, crs: str | None) -> str:
    """Plan the flight; returns the plan folder."""
    poly, plan_crs = read_aoi(aoi, crs)
    req = PlanRequest(poly, plan_crs, PROFILES[drone], altitude_m, gsd_cm)
    write_plan(plan_survey(req), out)
    return out


@task(cache_policy=NO_CACHE)  # never retried: flight commands are not idempotent
def fly_task(plan_dir: str, out: str, host: str, world: str | None, epoch: int,
             cases: str | None) -> list[dict[str, Any]]:
    """Fly every mission (missions over open cases first)."""
    return fly_plan(plan_dir, out, host, Path(world) if world else None, epoch,
                    Path(cases) if cases else None)


@flow(name="survey-flight", log_prints=True)
def survey_flight_flow(aoi: str, out: str, registry: str, drone: str = "tello",
                       altitude_m: float | None = 10.0, gsd_cm: float | None = None,
                       crs: str | None = None, host: str = "192.168.10.1",
                       world: str | None = None, epoch: int = 1, cases: str | None = None,
                       lang: str = "zh") -> dict[str, Any]:
    """Plan -> fly -> detect: one scheduled survey of a district."""
    root = Path(out)
    plan_dir = plan_task(aoi, str(root / "plan"), drone, altitude_m, gsd_cm, crs)
    logs = fly_task(plan_dir, str(root / "captures"), host, world, epoch, cases)
    print(f"flew {len(logs)} mission(s): " + ", ".join(lg["status"] for lg in logs))
    return detect_flow(inputs=[str(root / "captures")], registry=registry,
                       out=str(root / "survey"), cases=cases,
                       survey_date=dt.date.today(), lang=lang)
