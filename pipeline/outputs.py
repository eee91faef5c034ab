"""The survey's outputs: task lists for GIS, spreadsheets and phones, evidence, summary, reports."""

from __future__ import annotations

import csv
import hashlib
import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
import simplekml
from openpyxl import Workbook
from openpyxl.styles import Font
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.windows import from_bounds
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from geodata.crs import WGS84, round_coords, wgs84_to_gcj02
from pipeline.i18n import t

TASK_FIELDS = [
    "task_id", "category", "object_class", "area_m2", "parcel_id", "district", "squad", "status",
    "priority", "confidence", "lon", "lat", "lon_gcj02", "lat_gcj02", "evidence", "survey_id",
    "first_seen", "last_seen", "source", "source_sha256",
]
EXTRA_FIELDS = ["priority_reason"]
#: Empty columns a squad fills in and returns (``skypatrol import-results``).
RESULT_FIELDS = ["result", "result_date", "result_note"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Characters XML 1.0 and worksheets cannot hold.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text (OWASP CSV injection): prefix with a quote.

    Control characters, which a worksheet cannot hold, are removed.
    """
    if isinstance(value, str):
        value = _CONTROL.sub("", value)
        if value.startswith(_FORMULA_START):
            return "'" + value
    return value


def slug(name: str) -> str:
    """A file-name-safe form of a squad name."""
    s = re.sub(r"[^\w.-]+", "-", name.strip(), flags=re.UNICODE).strip("-")
    return s or "unassigned"


def squad_file_names(squads: Sequence[str]) -> dict[str, str]:
    """One distinct file name per squad, so no squad's work order replaces another's.

    Squads whose slugs collide ("a/b" and "a-b") get the start of their name's sha1 added.
    """
    by_slug: dict[str, list[str]] = {}
    for sq in dict.fromkeys(squads):
        by_slug.setdefault(slug(sq).lower(), []).append(sq)
    names = {}
    for group in by_slug.values():
        for sq in group:
            tag = "" if len(group) == 1 else "-" + hashlib.sha1(sq.encode()).hexdigest()[:6]
            names[sq] = slug(sq) + tag
    return names


def kml_text(value: Any) -> str:
    """Text for a KML name or description, safe in XML and in the viewer's HTML.

    Control characters (invalid in XML) are removed, and the text is HTML-escaped: viewers
    render descriptions as HTML once the XML is decoded.
    """
    return html.escape(_CONTROL.sub("", str(value)), quote=True)


def rfc7946_geometry(geom: BaseGeometry) -> dict[str, Any]:
    """A WGS84 geometry as RFC 7946 GeoJSON: counter-clockwise exteriors, 7 decimals."""
    oriented = shapely.orient_polygons(geom, exterior_cw=False)
    out: dict[str, Any] = round_coords(mapping(oriented))
    return out


def enrich_tasks(tasks: gpd.GeoDataFrame,
                 sha_by_source: dict[str, str | None]) -> gpd.GeoDataFrame:
    """Add WGS84 and GCJ-02 coordinates, evidence paths and source hashes to the tasks."""
    out = tasks.copy()
    if len(out) == 0:
        for col in ("lon", "lat", "lon_gcj02", "lat_gcj02", "evidence", "source_sha256"):
            out[col] = pd.Series(dtype=object)
        return out
    pts = gpd.GeoSeries(out.geometry.representative_point(), crs=out.crs).to_crs(WGS84)
    lon, lat = pts.x.to_numpy(), pts.y.to_numpy()
    glon, glat = wgs84_to_gcj02(lon, lat)
    out["lon"], out["lat"] = np.round(lon, 7), np.round(lat, 7)
    out["lon_gcj02"], out["lat_gcj02"] = np.round(glon, 7), np.round(glat, 7)
    out["evidence"] = [f"evidence/{tid}.jpg" for tid in out.task_id]
    out["source_sha256"] = [sha_by_source.get(s) for s in out.source]
    return out


def _feature_collection(frame: gpd.GeoDataFrame, fields: Sequence[str]) -> dict[str, Any]:
    wgs = frame.to_crs(WGS84) if len(frame) else frame
    feats = []
    for row, geom in zip(frame[list(fields)].to_dict("records"), wgs.geometry):
        props = {k: _jsonable(v) for k, v in row.items()}
        feats.append({"type": "Feature", "geometry": rfc7946_geometry(geom),
                      "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def _jsonable(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(float(v)) else round(float(v), 7)
    if isinstance(v, (pd.Timestamp,)):
        return v.date().isoformat()
    return v


def write_task_files(out: Path, tasks: gpd.GeoDataFrame, lang: str) -> dict[str, Path]:
    """``tasks.geojson``, ``tasks.csv``, ``tasks.xlsx`` and ``tasks.kml``."""
    fields = TASK_FIELDS + EXTRA_FIELDS
    paths = {}
    fc = _feature_collection(tasks, fields)
    paths["geojson"] = out / "tasks.geojson"
    paths["geojson"].write_text(json.dumps(fc, ensure_ascii=False, indent=1))
    rows = [[_jsonable(v) for v in r] for r in tasks[fields].itertuples(index=False)]
    paths["csv"] = out / "tasks.csv"
    with open(paths["csv"], "w", newline="", encoding="utf-8-sig") as f:  # BOM: Excel + 中文
        w = csv.writer(f)
        w.writerow(fields)
        for r in rows:
            w.writerow([safe_cell(v) for v in r])
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t("tasks", lang)[:31]
    ws.append([*fields, "category_label", *RESULT_FIELDS])
    for r, cat in zip(rows, tasks["category"] if len(tasks) else []):
        ws.append([safe_cell(v) for v in r] + [t(str(cat), lang), None, None, None])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    paths["xlsx"] = out / "tasks.xlsx"
    wb.save(paths["xlsx"])
    kml = simplekml.Kml(name=t("tasks", lang))
    for rec in tasks.to_dict("records"):
        p = kml.newpoint(name=kml_text(rec["task_id"]), coords=[(rec["lon"], rec["lat"])])
        p.description = kml_text(
            f"{t(str(rec['category']), lang)} · {t(str(rec['object_class']), lang)} · "
            f"{rec['area_m2']:.0f} m² · {t('priority', lang)} {rec['priority']} · "
            f"{t('parcel', lang)} {rec['parcel_id'] or '-'} · "
            f"GCJ-02 {rec['lon_gcj02']:.6f},{rec['lat_gcj02']:.6f}"
        )
    paths["kml"] = out / "tasks.kml"
    kml.save(str(paths["kml"]))
    return paths


def write_resolved(out: Path, resolved: gpd.GeoDataFrame) -> Path:
    """``resolved.geojson``: cases this survey confirmed gone."""
    fields = [c for c in ("task_id", "category", "object_class", "area_m2", "first_seen",
                          "last_seen", "resolved_on", "resolved_by", "parcel_id", "district",
                          "squad") if c in resolved.columns]
    path = out / "resolved.geojson"
    path.write_text(json.dumps(_feature_collection(resolved, fields), ensure_ascii=False,
                               indent=1))
    return path


def write_detections(out: Path, detections: gpd.GeoDataFrame) -> Path:
    """``detections.gpkg`` layer ``detections`` (projected CRS)."""
    path = out / "detections.gpkg"
    path.unlink(missing_ok=True)
    detections[["class", "score", "source", "geometry"]].to_file(
        path, layer="detections", driver="GPKG", engine="pyogrio")
    return path


def evidence_chip(raster: str, geom: BaseGeometry, crs: CRS | str, path: Path,
                  margin_m: float = 8.0, max_px: int = 640) -> Path | None:
    """Crop the imagery around a site and outline it (OpenCV); None when not imaged."""
    with rasterio.open(raster) as ds:
        g = gpd.GeoSeries([geom], crs=crs)
        if CRS.from_user_input(ds.crs) != CRS.from_user_input(crs):
            g = g.to_crs(ds.crs)
        site = g.iloc[0]
        x0, y0, x1, y1 = site.buffer(margin_m).bounds
        L, B, R, T = ds.bounds
        x0, y0, x1, y1 = max(x0, L), max(y0, B), min(x1, R), min(y1, T)
        if x1 <= x0 or y1 <= y0:
            return None
        win = from_bounds(x0, y0, x1, y1, ds.transform).round_offsets().round_lengths()
        if win.width < 2 or win.height < 2:
            return None
        k = min(1.0, max_px / max(win.width, win.height))
        shape_ = (max(2, int(win.height * k)), max(2, int(win.width * k)))
        data = ds.read((1, 2, 3), window=win, out_shape=(3, *shape_),
                       resampling=Resampling.average)
        transform = ds.window_transform(win) * rasterio.Affine.scale(
            win.width / shape_[1], win.height / shape_[0])
    bgr = cv2.cvtColor(np.ascontiguousarray(np.moveaxis(data, 0, 2)), cv2.COLOR_RGB2BGR)
    inv = ~transform
    polys = [site] if site.geom_type == "Polygon" else list(getattr(site, "geoms", []))
    for poly in polys:
        if poly.geom_type != "Polygon":
            continue
        pts = np.array([inv * xy for xy in poly.exterior.coords], np.float64)
        pts_i = np.round((pts - 0.5) * 16).astype(np.int32)
        cv2.polylines(bgr, [pts_i], True, (0, 0, 255), 2, cv2.LINE_AA, 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 88])
    return path


def write_evidence(out: Path, tasks: gpd.GeoDataFrame, rasters: Sequence[str]) -> int:
    """One chip per task from the raster that holds it (its own source first)."""
    n = 0
    for row in tasks.itertuples():
        ordered = [row.source, *[r for r in rasters if r != row.source]]
        for raster in ordered:
            if not str(raster).lower().endswith((".tif", ".tiff", ".vrt")):
                continue
            if evidence_chip(str(raster), row.geometry, tasks.crs,
                             out / "evidence" / f"{row.task_id}.jpg") is not None:
                n += 1
                break
    return n


def totals(tasks: gpd.GeoDataFrame, resolved: gpd.GeoDataFrame) -> dict[str, Any]:
    """Counts and areas per category and per district (the summary's numbers)."""
    def agg(df: pd.DataFrame, key: str) -> dict[str, Any]:
        if len(df) == 0:
            return {}
        g = df.groupby(key)["area_m2"]
        return {str(k): {"count": int(c), "area_m2": round(float(a), 2)}
                for (k, c), a in zip(g.count().items(), g.sum())}

    by_district: dict[str, Any] = {}
    for d, grp in (tasks.groupby("district") if len(tasks) else []):
        by_district[str(d)] = agg(grp, "category")
    return {
        "per_category": agg(tasks, "category"),
        "per_district": by_district,
        "resolved_per_category": agg(resolved, "category"),
        "total_count": int(len(tasks)),
        "total_area_m2": round(float(tasks["area_m2"].sum()), 2) if len(tasks) else 0.0,
        "resolved_count": int(len(resolved)),
        "resolved_area_m2": round(float(resolved["area_m2"].sum()), 2) if len(resolved) else 0.0,
    }


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


PAGE_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0;width:100%}th,td{border:1px solid #bbb;
padding:4px 6px;text-align:left;vertical-align:top;font-size:13px}th{background:#eee}
img.chip{max-width:100%;max-height:160px}table{table-layout:fixed}
td{overflow-wrap:anywhere}h1{font-size:22px}h2{font-size:17px;margin-top:24px}
.box{display:block;width:100%;box-sizing:border-box;height:48px;border:1px solid #999}
@media print{body{margin:8mm}a{color:#000;text-decoration:none}tr{page-break-inside:avoid}}
@page{size:A4;margin:10mm}
"""


def _esc(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def amap_link(lon_gcj: float, lat_gcj: float, name: str) -> str:
    """A link that opens the site in Amap (GCJ-02 coordinates)."""
    return (f"https://uri.amap.com/marker?position={lon_gcj:.6f},{lat_gcj:.6f}"
            f"&name={html.escape(name)}&coordinate=gaode")


def write_report(out: Path, summary: dict[str, Any], tasks: gpd.GeoDataFrame,
                 resolved: gpd.GeoDataFrame, lang: str) -> Path:
    """A plain self-contained ``report.html`` (no external resources)."""
    tot = summary["totals"]
    cat_rows = [[_esc(t(c, lang)), v["count"], f"{v['area_m2']:.1f}"]
                for c, v in tot["per_category"].items()]
    dist_rows = [[_esc(d), _esc(t(c, lang)), v["count"], f"{v['area_m2']:.1f}"]
                 for d, cats in tot["per_district"].items() for c, v in cats.items()]
    task_rows = [[_esc(r.task_id), _esc(t(r.category, lang)), _esc(t(r.object_class, lang)),
                  f"{r.area_m2:.1f}", r.priority, _esc(t(r.status, lang)), _esc(r.squad),
                  f'<img class="chip" src="{_esc(r.evidence)}" alt="">']
                 for r in tasks.sort_values(["priority", "area_m2"],
                                            ascending=[True, False]).itertuples()]
    res_rows = [[_esc(r.task_id), _esc(t(r.category, lang)), f"{r.area_m2:.1f}",
                 _esc(r.first_seen), _esc(r.resolved_on)] for r in resolved.itertuples()]
    skipped = [[_esc(i["source"]), _esc(i["reason"]), _esc(i.get("detail"))]
               for i in summary["inputs"] if i["status"] == "skipped"]
    doc = f"""<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">
<title>{_esc(t('report_title', lang))} {_esc(summary['survey_id'])}</title><style>{PAGE_CSS}</style>
</head><body><h1>{_esc(t('report_title', lang))} — {_esc(summary['survey_id'])}</h1>
<p>{_esc(t('date', lang))}: {_esc(summary['survey_date'])} ·
{_esc(t('imagery_area', lang))}: {summary['imagery_area_km2']:.3f}</p>
<h2>{_esc(t('totals', lang))}</h2>
{_table([t('category', lang), t('count', lang), t('area', lang)], cat_rows)}
{_table([t('district', lang), t('category', lang), t('count', lang), t('area', lang)],
        dist_rows)}
<h2>{_esc(t('tasks', lang))}</h2>
{_table([t('task', lang), t('category', lang), t('object', lang), t('area', lang),
         t('priority', lang), t('status', lang), t('squad', lang), t('evidence', lang)],
        task_rows)}
<h2>{_esc(t('resolved', lang))}</h2>
{_table([t('task', lang), t('category', lang), t('area', lang), 'first seen', 'resolved'],
        res_rows) if res_rows else '<p>' + _esc(t('none', lang)) + '</p>'}
<h2>{_esc(t('skipped', lang))}</h2>
{_table([t('inputs', lang), t('reason', lang), ''], skipped) if skipped
 else '<p>' + _esc(t('none', lang)) + '</p>'}
</body></html>"""
    path = out / "report.html"
    path.write_text(doc, encoding="utf-8")
    return path


def visiting_order(tasks: gpd.GeoDataFrame) -> list[int]:
    """Row positions in the order a squad should visit them.

    Priority first (urgent sites are never postponed for a shorter walk); within one
    priority, a nearest-neighbour route that starts where the previous group ended.
    """
    if len(tasks) == 0:
        return []
    pts = tasks.geometry.representative_point()
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    prio = tasks["priority"].to_numpy()
    order: list[int] = []
    here = xy[int(np.argmin(prio))]
    for p in sorted(set(prio.tolist())):
        todo = [i for i in range(len(tasks)) if prio[i] == p]
        while todo:
            j = min(todo, key=lambda i: float(np.hypot(*(xy[i] - here))))
            order.append(j)
            todo.remove(j)
            here = xy[j]
    return order


def write_work_orders(out: Path, tasks: gpd.GeoDataFrame, summary: dict[str, Any],
                      lang: str) -> list[Path]:
    """``squads/<squad>.html``: each squad's tasks by priority, printable, with navigation."""
    paths = []
    (out / "squads").mkdir(exist_ok=True)
    files = squad_file_names([str(s) for s in tasks["squad"]] if len(tasks) else [])
    for squad, grp in (tasks.groupby("squad") if len(tasks) else []):
        rows = []
        grp = grp.iloc[visiting_order(grp)]
        for stop, r in enumerate(grp.itertuples(), start=1):
            link = amap_link(r.lon_gcj02, r.lat_gcj02, str(r.task_id))
            rows.append([
                f"<b>{stop}. {_esc(r.task_id)}</b><br>{_esc(t('priority', lang))} {r.priority}",
                f"{_esc(t(r.category, lang))}<br>{_esc(t(r.object_class, lang))}",
                f"{r.area_m2:.1f}", _esc(r.parcel_id),
                f"WGS84 {r.lat:.6f}, {r.lon:.6f}<br>GCJ-02 {r.lat_gcj02:.6f}, {r.lon_gcj02:.6f}"
                f'<br><a href="{link}">{_esc(t("navigate", lang))}</a>',
                f'<img class="chip" src="../{_esc(r.evidence)}" alt="">',
                '<span class="box"></span>',
            ])
        doc = f"""<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">
<title>{_esc(t('work_order', lang))} {_esc(squad)}</title><style>{PAGE_CSS}</style></head><body>
<h1>{_esc(t('work_order', lang))} — {_esc(t('squad', lang))} {_esc(squad)}</h1>
<p>{_esc(t('survey', lang))} {_esc(summary['survey_id'])} · {_esc(summary['survey_date'])}</p>
{_table([t('task', lang), t('category', lang), t('area', lang), t('parcel', lang),
         t('coords', lang), t('evidence', lang), t('result', lang)], rows)}
</body></html>"""
        p = out / "squads" / f"{files[str(squad)]}.html"
        p.write_text(doc, encoding="utf-8")
        paths.append(p)
    return paths
