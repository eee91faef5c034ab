"""Leadership dashboard over the case register: verified totals, backlog, trend, map.

One self-contained HTML file: inline CSS, inline SVG charts and map, the orthophoto overview
embedded as a data URI. No script, no CDN, no network request.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

import cv2
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from pyproj import CRS
from rasterio.enums import Resampling

from pipeline.cases import read_register
from pipeline.i18n import t
from pipeline.outputs import PAGE_CSS

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
}


def tr(key: str, lang: str) -> str:
    """Dashboard strings, then the shared ones."""
    entry = _DASH_STRINGS.get(key)
    return entry.get(lang, entry["en"]) if entry else t(key, lang)


def _esc(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def dashboard_data(cases_path: Path | str, crs: CRS | str | None = None,
                   date_from: dt.date | None = None,
                   date_to: dt.date | None = None) -> dict[str, Any]:
    """The numbers of the dashboard, computed from the register (also returned as JSON)."""
    layers = read_register(cases_path, crs or "EPSG:4549")
    cases = layers["cases"]
    if crs is None and len(cases) and cases.crs is not None:
        crs = cases.crs
    to = date_to or dt.date.today()
    frm = date_from or dt.date(1900, 1, 1)
    c = cases.copy()
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
    claims: dict[str, int] = {}
    if "squad_result" in c.columns:
        for v in c.squad_result.dropna():
            claims[str(v)] = claims.get(str(v), 0) + 1
    return {
        "period": {"from": date_from.isoformat() if date_from else None, "to": to.isoformat()},
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
        "open_by_district": group(open_, "district"),
        "resolved_by_district": group(resolved, "district"),
        "open_by_squad": group(open_, "squad"),
        "resolved_by_squad": group(resolved, "squad"),
        "squad_claims": claims,
        "sites": [
            {"task_id": r.task_id, "category": r.category, "status": r.status,
             "x": r.geometry.representative_point().x, "y": r.geometry.representative_point().y}
            for r in c.itertuples()
        ] if len(c) else [],
        "imagery": [p for s in layers["surveys"].get("imagery", pd.Series(dtype=str)).dropna()
                    for p in str(s).split(";") if p],
    }


def _bar_chart(months: dict[str, dict[str, float]], lang: str) -> str:
    if not months:
        return f"<p>{_esc(t('none', lang))}</p>"
    w, h, pad = 640, 220, 40
    peak = max(sum(v.values()) for v in months.values()) or 1.0
    bw = (w - 2 * pad) / len(months)
    parts = [f'<svg viewBox="0 0 {w} {h}" width="100%" role="img" class="chart">']
    for i, (m, cats) in enumerate(months.items()):
        y: float = h - pad
        for cat, v in cats.items():
            bh = (h - 2 * pad) * v / peak
            parts.append(f'<rect x="{pad + i * bw + 4:.1f}" y="{y - bh:.1f}" '
                         f'width="{bw - 8:.1f}" height="{bh:.1f}" fill="{CAT_COLORS[cat]}">'
                         f"<title>{_esc(m)} {_esc(t(cat, lang))}: {v:.0f} m²</title></rect>")
            y -= bh
        parts.append(f'<text x="{pad + (i + 0.5) * bw:.1f}" y="{h - pad + 16}" '
                     f'text-anchor="middle" font-size="12">{_esc(m)}</text>')
    parts.append(f'<text x="{pad}" y="{pad - 12}" font-size="12">{peak:.0f} m²</text></svg>')
    return "".join(parts)


def _overview(imagery: list[str], bounds: tuple[float, float, float, float],
              crs: CRS | str, width: int = 900) -> str | None:
    """The orthophotos' overview over ``bounds`` as an embedded JPEG data URI."""
    x0, y0, x1, y1 = bounds
    height = max(1, int(width * (y1 - y0) / max(1e-9, x1 - x0)))
    canvas = np.zeros((height, width, 3), np.uint8)
    drawn = False
    for path in imagery:
        if not Path(path).exists() or not path.lower().endswith((".tif", ".tiff")):
            continue
        with rasterio.open(path) as ds:
            if ds.crs is None or CRS.from_user_input(ds.crs) != CRS.from_user_input(crs):
                continue
            win = rasterio.windows.from_bounds(x0, y0, x1, y1, ds.transform)
            data = ds.read((1, 2, 3), window=win, out_shape=(3, height, width),
                           boundless=True, fill_value=0, resampling=Resampling.average)
        img = np.moveaxis(data, 0, 2)
        mask = img.any(axis=2)
        canvas[mask] = img[mask]
        drawn = True
    if not drawn:
        return None
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else None


def _site_map(data: dict[str, Any], crs: CRS | str, lang: str) -> str:
    sites = data["sites"]
    if not sites:
        return f"<p>{_esc(t('none', lang))}</p>"
    xs = [s["x"] for s in sites]
    ys = [s["y"] for s in sites]
    m = 30.0
    bounds = (min(xs) - m, min(ys) - m, max(xs) + m, max(ys) + m)
    w = 900
    h = int(w * (bounds[3] - bounds[1]) / (bounds[2] - bounds[0]))
    bg = _overview(data["imagery"], bounds, crs, w)
    parts = [f'<svg viewBox="0 0 {w} {h}" width="100%" class="map" role="img">']
    if bg:
        parts.append(f'<image href="{bg}" x="0" y="0" width="{w}" height="{h}"/>')
    else:
        parts.append(f'<rect width="{w}" height="{h}" fill="#e8e8e8"/>')
    for s in sites:
        px = (s["x"] - bounds[0]) / (bounds[2] - bounds[0]) * w
        py = (bounds[3] - s["y"]) / (bounds[3] - bounds[1]) * h
        fill = CAT_COLORS.get(s["category"], "#333") if s["status"] == "open" else "#ffffff"
        parts.append(
            f'<circle class="site" data-task="{_esc(s["task_id"])}" cx="{px:.1f}" cy="{py:.1f}" '
            f'r="7" fill="{fill}" stroke="{CAT_COLORS.get(s["category"], "#333")}" '
            f'stroke-width="3"><title>{_esc(s["task_id"])} {_esc(t(s["category"], lang))} '
            f'({_esc(tr("open" if s["status"] == "open" else "resolved_word", lang))})'
            "</title></circle>")
    parts.append("</svg>")
    return "".join(parts)


def _group_table(groups: dict[str, Any], label: str, lang: str) -> str:
    head = [label] + [t(c, lang) for c in CAT_COLORS]
    rows = "".join(
        "<tr><td>" + _esc(k) + "</td>" + "".join(
            f"<td>{v[c]['count']} · {v[c]['area_m2']:.0f} m²</td>" for c in CAT_COLORS) + "</tr>"
        for k, v in sorted(groups.items()))
    th = "".join(f"<th>{_esc(x)}</th>" for x in head)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{rows}</tbody></table>"


def write_dashboard(cases_path: Path | str, out: Path | str, lang: str = "en",
                    date_from: dt.date | None = None, date_to: dt.date | None = None,
                    crs: CRS | str | None = None) -> Path:
    """Write ``dashboard.html`` and ``dashboard.json`` into ``out``; returns the HTML path."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if crs is None:
        probe = gpd.read_file(cases_path, layer="cases", rows=1) if Path(cases_path).exists() \
            else None
        crs = probe.crs if probe is not None and probe.crs is not None else "EPSG:4549"
    data = dashboard_data(cases_path, crs, date_from, date_to)
    (out_dir / "dashboard.json").write_text(json.dumps(data, ensure_ascii=False, indent=2))
    v, o = data["verified"], data["open"]
    kpis = [
        (tr("demolished", lang), f"{v['demolished_m2']:.0f}"),
        (tr("regreened", lang), f"{v['regreened_m2']:.0f}"),
        (tr("boards_removed", lang), str(v["billboards_removed"])),
        (tr("open_backlog", lang), f"{o['count']} · {o['area_m2']:.0f} m²"),
        (tr("median_age", lang), "-" if o["median_age_days"] is None
         else f"{o['median_age_days']:.0f}"),
        (tr("ttr", lang), "-" if data["median_days_to_rectify"] is None
         else f"{data['median_days_to_rectify']:.0f}"),
    ]
    kpi_html = "".join(f'<div class="kpi"><div class="v">{_esc(val)}</div>'
                       f'<div class="l">{_esc(label)}</div></div>' for label, val in kpis)
    claims = "".join(f"<li>{_esc(k)}: {n}</li>" for k, n in data["squad_claims"].items())
    period = data["period"]
    doc = f"""<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(tr('dashboard', lang))}</title><style>{PAGE_CSS}
.kpis{{display:flex;flex-wrap:wrap;gap:12px}}.kpi{{border:1px solid #ccc;border-radius:6px;
padding:10px 14px;min-width:160px;flex:1}}.kpi .v{{font-size:24px;font-weight:600}}
.kpi .l{{font-size:12px;color:#555}}svg.map{{border:1px solid #ccc}}
@media (max-width:600px){{body{{margin:8px}}.kpi{{min-width:120px}}td,th{{font-size:11px}}}}
</style></head><body>
<h1>{_esc(tr('dashboard', lang))}</h1>
<p>{_esc(tr('period', lang))}: {_esc(period['from'] or '…')} – {_esc(period['to'])} ·
{_esc(tr('verified', lang))}</p>
<div class="kpis">{kpi_html}</div>
<h2>{_esc(tr('by_month', lang))}</h2>{_bar_chart(data['by_month'], lang)}
<h2>{_esc(tr('map', lang))}</h2>{_site_map(data, crs, lang)}
<h2>{_esc(tr('by_district', lang))} — {_esc(tr('resolved_word', lang))}</h2>
{_group_table(data['resolved_by_district'], t('district', lang), lang)}
<h2>{_esc(tr('by_district', lang))} — {_esc(tr('open', lang))}</h2>
{_group_table(data['open_by_district'], t('district', lang), lang)}
<h2>{_esc(tr('by_squad', lang))} — {_esc(tr('open', lang))}</h2>
{_group_table(data['open_by_squad'], t('squad', lang), lang)}
<h2>{_esc(tr('squad_claims', lang))}</h2><ul>{claims or _esc(t('none', lang))}</ul>
</body></html>"""
    path = out_dir / "dashboard.html"
    path.write_text(doc, encoding="utf-8")
    return path
