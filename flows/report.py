"""``report_flow``: the leadership dashboard over the case register, with Prefect artifacts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE as NO_CACHE

from pipeline.dashboard import write_dashboard


@task(cache_policy=NO_CACHE)
def dashboard_task(cases: str, out: str, lang: str, date_from: dt.date | None,
                   date_to: dt.date | None, deadline_days: int = 30) -> str:
    """Write dashboard.html and dashboard.json."""
    return str(write_dashboard(cases, out, lang, date_from, date_to,
                               deadline_days=deadline_days))


@flow(name="report", log_prints=True)
def report_flow(cases: str, out: str, lang: str = "en", date_from: dt.date | None = None,
                date_to: dt.date | None = None, deadline_days: int = 30) -> str:
    """Leadership totals over every survey in the register (overdue after ``deadline_days``)."""
    path = dashboard_task(cases, out, lang, date_from, date_to, deadline_days)
    data = json.loads((Path(out) / "dashboard.json").read_text(encoding="utf-8"))
    v, o = data["verified"], data["open"]
    create_markdown_artifact(key="leadership-totals", markdown="\n".join([
        "# Leadership totals (verified by re-survey)", "",
        "| measure | value |", "|---|---|",
        f"| illegal building demolished | {v['demolished_m2']:.0f} m² |",
        f"| green space restored | {v['regreened_m2']:.0f} m² |",
        f"| billboards removed | {v['billboards_removed']} |",
        f"| open cases | {o['count']} ({o['area_m2']:.0f} m²) |",
        f"| overdue (open > {deadline_days} days) | {len(data['overdue'])} |",
    ]))
    return path
