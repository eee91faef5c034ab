"""Leadership dashboard over the case register: verified totals, trends, rankings, overdue cases.

One self-contained HTML page from a Jinja2 template: charts by Apache ECharts and the map by
Leaflet, both vendored and inlined, the orthophoto overview embedded as a data URI. No CDN, no
network request. The numbers are also written as ``dashboard.json``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import rasterio
from pyproj import CRS
from rasterio.enums import Resampling

from pipeline.cases import read_register, register_crs
from pipeline.i18n import t
from pipeline.render import render

CAT_COLORS = {"illegal_construction": "#d62728", "green_encroachment": "#2ca02c",
              "illegal_billboard": "#9467bd"}

_DASH_STRINGS = {
    "dashboard": {"en": "Leadership dashboard", "zh": "领导驾驶舱"},
    "verified": {"en": "Verified by re-survey", "zh": "复飞核验"},
    "demolished": {"en": "Illegal building demolished (m²)", "zh": "拆除违法建设面积（平方米）"},
    "regreened": {"en": "Green space restored (m²)", "zh": "恢复绿地面积（平方米）"},
    "boards_removed": {"en": "Billboards removed", "zh": "拆除广告牌（块）"},
    "open_backlog": {"en": "Open cases", "zh": "待整改案件"},
    "median_age": {"en": "Median age of open cases (days)", "zh": "待整改案件中位天数"},
    "ttr": {"en": "Median time to rectify (days)", "zh": "整改用时中位数（天）"},
    "by_month": {"en": "Verified rectification by month (m²)", "zh": "按月核验整改面积（平方米）"},
    "by_district": {"en": "By district", "zh": "按区"},
    "by_squad": {"en": "By squad", "zh": "按中队"},
    "map": {"en": "Sites", "zh": "点位分布"},
    "period": {"en": "Period", "zh": "统计期间"},
    "open": {"en": "open", "zh": "待整改"},
    "resolved_word": {"en": "verified rectified", "zh": "已核验整改"},
    "squad_claims": {"en": "Squad reports (not counted until verified)",
                     "zh": "中队上报（复飞核验前不计入）"},
    "trend_open": {"en": "Open cases at each survey", "zh": "各批次待整改案件数"},
    "trend_area": {"en": "Open area at each survey (m²)", "zh": "各批次待整改面积（平方米）"},
    "verified_m2": {"en": "Verified rectification by month (m²)",
                    "zh": "按月核验整改面积（平方米）"},
    "verified_boards": {"en": "Billboards removed by month (verified)",
                        "zh": "按月核验拆除广告牌（块）"},
    "ranking_district": {"en": "Open cases by district", "zh": "各区待整改案件"},
    "ranking_squad": {"en": "Open cases by squad", "zh": "各中队待整改案件"},
    "overdue": {"en": "Overdue cases (open longer than {days} days)",
                "zh": "超期案件（超过{days}天未整改）"},
    "age_days": {"en": "Days open", "zh": "已持续天数"},
    "cases_word": {"en": "cases", "zh": "件"},
    "boards_word": {"en": "boards", "zh": "块"},
    "survey_date": {"en": "Survey date", "zh": "巡查日期"},
    "month": {"en": "Month", "zh": "月份"},
    "ttr_by_cat": {"en": "Median days to rectify", "zh": "整改用时中位数（天）"},
    "legend_open": {"en": "open (filled)", "zh": "待整改（实心）"},
    "legend_resolved": {"en": "verified rectified (ring)", "zh": "已核验整改（空心）"},
    "no_data": {"en": "No data in this period", "zh": "本期无数据"},
}


def tr(key: str, lang: str) -> str:
    """Dashboard strings, then the shared ones."""
    entry = _DASH_STRINGS.get(key)
    return entry.get(lang, entry["en"]) if entry else t(key, lang)


def dashboard_data(cases_path: Path | str, crs: CRS | str | None = None,
                   date_from: dt.date | None = None,
                   date_to: dt.date | None = None, deadline_days: int = 30) -> dict[str, Any]:
    """The numbers of the dashboard, computed from the register (also returned as JSON).

    ``deadline_days``: an open case older than this is overdue.
    """
    layers = read_register(cases_path, crs or "EPSG:4549")
    cases = layers["cases"]
    if crs is None and len(cases) and cases.crs is not None:
        crs = cases.crs
    to = date_to or dt.date.today()
    frm = date_from or dt.date(1900, 1, 1)
    c = cases.copy()
    if len(c) and "review" in c:  # a finding analysts rejected is no case of the totals
        c = c[c.review.fillna("") != "rejected"]
    c = c[c.first_seen <= to.isoformat()] if len(c) else c
    resolved = c[(c.status == "resolved") & (c.resolved_on >= frm.isoformat())
                 & (c.resolved_on <= to.isoformat())] if len(c) else c
    open_ = c[c.status == "open"] if len(c) else c

    def total(df: pd.DataFrame, cat: str) -> float:
        return round(float(df.loc[df.category == cat, "area_m2"].sum()), 1) if len(df) else 0.0

    def group(df: pd.DataFrame, key: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for k, g in (df.groupby(key) if len(df) else []):
            out[str(k)] = {cat: {"count": int((g.category == cat).sum()),
                                 "area_m2": round(float(g.loc[g.category == cat,
                                                              "area_m2"].sum()), 1)}
                           for cat in CAT_COLORS}
        return out

    ages = [(to - dt.date.fromisoformat(d)).days for d in open_.first_seen] if len(open_) else []
    ttr = [(dt.date.fromisoformat(r) - dt.date.fromisoformat(f)).days
           for f, r in zip(resolved.first_seen, resolved.resolved_on)] if len(resolved) else []
    months: dict[str, dict[str, float]] = {}
    for r in resolved.itertuples() if len(resolved) else []:
        m = str(r.resolved_on)[:7]
        months.setdefault(m, dict.fromkeys(CAT_COLORS, 0.0))
        months[m][r.category] += float(r.area_m2)
    boards: dict[str, int] = {}
    for r in resolved.itertuples() if len(resolved) else []:
        if r.category == "illegal_billboard":
            boards[str(r.resolved_on)[:7]] = boards.get(str(r.resolved_on)[:7], 0) + 1
    claims: dict[str, int] = {}
    if "squad_result" in c.columns:
        for v in c.squad_result.dropna():
            claims[str(v)] = claims.get(str(v), 0) + 1
    survey_dates = sorted({str(d) for d in layers["surveys"].get("survey_date", [])
                           if isinstance(d, str) and d <= to.isoformat()
                           and d >= frm.isoformat()})
    trend: dict[str, Any] = {"dates": survey_dates, "open_count": {}, "open_area_m2": {}}
    for cat in CAT_COLORS:
        cc = c[c.category == cat] if len(c) else c
        counts, areas = [], []
        for d in survey_dates:
            alive = cc[(cc.first_seen <= d) & (cc.resolved_on.fillna("9999") > d)] \
                if len(cc) else cc
            counts.append(int(len(alive)))
            areas.append(round(float(alive.area_m2.sum()), 1) if len(alive) else 0.0)
        trend["open_count"][cat] = counts
        trend["open_area_m2"][cat] = areas
    ttr_by_cat = {}
    for cat in CAT_COLORS:
        rc = resolved[resolved.category == cat] if len(resolved) else resolved
        days = [(dt.date.fromisoformat(r) - dt.date.fromisoformat(f)).days
                for f, r in zip(rc.first_seen, rc.resolved_on)] if len(rc) else []
        ttr_by_cat[cat] = float(np.median(days)) if days else None
    overdue = []
    for r in open_.itertuples() if len(open_) else []:
        age = (to - dt.date.fromisoformat(r.first_seen)).days
        if age > deadline_days:
            overdue.append({"task_id": r.task_id, "category": r.category,
                            "area_m2": round(float(r.area_m2), 1), "district": r.district,
                            "squad": r.squad, "first_seen": r.first_seen, "age_days": age})
    overdue.sort(key=lambda o: -o["age_days"])
    earliest = min(c.first_seen) if len(c) else None
    return {
        "period": {"from": date_from.isoformat() if date_from else earliest,
                   "to": to.isoformat()},
        "deadline_days": deadline_days,
        "trend": trend,
        "median_days_to_rectify_by_category": ttr_by_cat,
        "overdue": overdue,
        "verified": {
            "demolished_m2": total(resolved, "illegal_construction"),
            "regreened_m2": total(resolved, "green_encroachment"),
            "billboards_removed": int((resolved.category == "illegal_billboard").sum())
            if len(resolved) else 0,
            "billboard_area_m2": total(resolved, "illegal_billboard"),
        },
        "open": {"count": int(len(open_)),
                 "area_m2": round(float(open_.area_m2.sum()), 1) if len(open_) else 0.0,
                 "median_age_days": float(np.median(ages)) if ages else None},
        "median_days_to_rectify": float(np.median(ttr)) if ttr else None,
        "by_month": dict(sorted(months.items())),
        "boards_by_month": {m: int(n) for m, n in sorted(boards.items())},
        "open_by_district": group(open_, "district"),
        "resolved_by_district": group(resolved, "district"),
        "open_by_squad": group(open_, "squad"),
        "resolved_by_squad": group(resolved, "squad"),
        "squad_claims": claims,
        "sites": [
            {"task_id": r.task_id, "category": r.category, "status": r.status,
             "area_m2": round(float(r.area_m2), 1), "district": r.district, "squad": r.squad,
             "first_seen": r.first_seen, "resolved_on": r.resolved_on
             if isinstance(r.resolved_on, str) else None,
             "x": r.geometry.representative_point().x, "y": r.geometry.representative_point().y}
            for r in c.itertuples()
        ] if len(c) else [],
        "imagery": [p for s in layers["surveys"].get("imagery", pd.Series(dtype=str)).dropna()
                    for p in str(s).split(";") if p],
    }


def _overview(imagery: list[str], bounds: tuple[float, float, float, float],
              crs: CRS | str, width: int = 1200) -> str | None:
    """The orthophotos' overview over ``bounds``: a WebP data URI, no-data transparent."""
    x0, y0, x1, y1 = bounds
    height = max(1, int(width * (y1 - y0) / max(1e-9, x1 - x0)))
    canvas = np.zeros((height, width, 4), np.uint8)
    drawn = False
    for path in imagery:
        if not Path(path).exists() or not path.lower().endswith((".tif", ".tiff", ".vrt")):
            continue
        with rasterio.open(path) as ds:
            if ds.crs is None or CRS.from_user_input(ds.crs) != CRS.from_user_input(crs):
                continue
            win = rasterio.windows.from_bounds(x0, y0, x1, y1, ds.transform)
            data = ds.read((1, 2, 3), window=win, out_shape=(3, height, width),
                           boundless=True, fill_value=0, resampling=Resampling.average)
        img = np.moveaxis(data, 0, 2)
        mask = img.any(axis=2)
        canvas[mask, :3] = img[mask]
        canvas[mask, 3] = 255
        drawn = True
    if not drawn:
        return None
    ok, buf = cv2.imencode(".webp", cv2.cvtColor(canvas, cv2.COLOR_RGBA2BGRA),
                           [cv2.IMWRITE_WEBP_QUALITY, 80])
    return "data:image/webp;base64," + base64.b64encode(buf.tobytes()).decode() if ok else None


def _map_data(data: dict[str, Any], crs: CRS | str) -> dict[str, Any] | None:
    sites = data["sites"]
    if not sites:
        return None
    xs = [s["x"] for s in sites]
    ys = [s["y"] for s in sites]
    m = 40.0
    bounds = (min(xs) - m, min(ys) - m, max(xs) + m, max(ys) + m)
    return {"bounds": bounds, "overview": _overview(data["imagery"], bounds, crs)}


def write_dashboard(cases_path: Path | str, out: Path | str, lang: str = "en",
                    date_from: dt.date | None = None, date_to: dt.date | None = None,
                    crs: CRS | str | None = None, deadline_days: int = 30) -> Path:
    """Write ``dashboard.html`` and ``dashboard.json`` into ``out``; returns the HTML path."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if crs is None:
        crs = register_crs(cases_path) or "EPSG:4549"
    data = dashboard_data(cases_path, crs, date_from, date_to, deadline_days)
    (out_dir / "dashboard.json").write_text(json.dumps(data, ensure_ascii=False, indent=2),
        encoding="utf-8")
    labels = {k: tr(k, lang) for k in (*_DASH_STRINGS, "none", "task", "category", "area",
                                       "district", "squad", "status", "first_seen",
                                       "resolved_on")}
    labels["overdue"] = tr("overdue", lang).format(days=deadline_days)
    labels.update({c: t(c, lang) for c in CAT_COLORS})
    page = render("dashboard.html.j2", lang, data=data, labels=labels, colors=CAT_COLORS,
                  map=_map_data(data, crs), tr=lambda k: labels.get(k, tr(k, lang)))
    path = out_dir / "dashboard.html"
    path.write_text(page, encoding="utf-8")
    return path
