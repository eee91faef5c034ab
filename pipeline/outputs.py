"""The survey's outputs: task lists for GIS, spreadsheets and phones, evidence, summary, reports."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import json
import math
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import simplekml
from openpyxl import Workbook
from openpyxl.styles import Font
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from geodata.crs import WGS84, round_coords, wgs84_to_gcj02
from geodata.raster import rgb_sources
from pipeline.checks import describe
from pipeline.i18n import t
from pipeline.results_sheet import FORM_RESULTS
from pipeline.workorders import (
    Chip,
    amap_navigation,
    chip,
    priority_reason,
    render_work_order,
    site_cards,
)

TASK_FIELDS = [
    "task_id", "category", "object_class", "area_m2", "parcel_id", "district", "squad", "status",
    "priority", "confidence", "lon", "lat", "lon_gcj02", "lat_gcj02", "evidence", "survey_id",
    "first_seen", "last_seen", "source", "source_sha256", "review", "verified", "checks",
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
    from pipeline.outlines import clean_outline

    out = tasks.copy()
    if len(out):  # outlines for people and GIS: the corners, not the pixel staircase
        out = out.set_geometry([clean_outline(g) for g in out.geometry], crs=out.crs)
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


#: The columns of the squads' worksheets: (field, English header, Chinese header).
SHEET_COLUMNS = [
    ("task_id", "Task ID", "任务编号"), ("category_label", "Category", "类别"),
    ("object_label", "Object", "对象"), ("area_m2", "Area (m²)", "面积（平方米）"),
    ("priority", "Priority", "优先级"), ("status_label", "Status", "状态"),
    ("district", "District", "区"), ("parcel_id", "Parcel", "地块"),
    ("first_seen", "First seen", "首次发现"), ("last_seen", "Last seen", "最近发现"),
    ("lat", "Latitude (WGS84)", "纬度（WGS84）"), ("lon", "Longitude (WGS84)", "经度（WGS84）"),
    ("lat_gcj02", "Latitude (GCJ-02)", "纬度（GCJ-02）"),
    ("lon_gcj02", "Longitude (GCJ-02)", "经度（GCJ-02）"),
    ("evidence", "Evidence", "取证图"), ("navigate", "Navigate", "导航"),
    ("confidence", "Confidence", "置信度"), ("review_label", "Review", "人工审核"),
    ("priority_reason", "Why this priority", "优先级原因"),
    ("checks_label", "Checks that decided it", "判定依据（自动核查）"),
    ("survey_id", "Survey", "巡查批次"), ("source", "Source image", "源影像"),
    ("source_sha256", "Source SHA-256", "源影像SHA-256"), ("category", "Category code", "类别代码"),
    ("result", "Result", "处理结果"), ("result_date", "Result date", "处理日期"),
    ("result_note", "Result note", "备注"),
]
_DATE_FIELDS = ("first_seen", "last_seen", "result_date")
_MAX_WIDTH = 42


def _sheet_title(name: str, taken: set[str]) -> str:
    """A worksheet title (31 characters, no brackets, colons, stars, slashes) not yet used."""
    base = re.sub(r"[\[\]:*?/\\]", "-", name).strip("'") or "-"
    title, k = base[:31], 2
    while title.lower() in taken:
        title = f"{base[:27]}~{k}"
        k += 1
    taken.add(title.lower())
    return title


def _width(v: Any) -> int:
    text = "" if v is None else str(v)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _finish_sheet(ws: Any, ncols: int, nrows: int) -> None:
    """Bold frozen header, autofilter, column widths from the content."""
    from openpyxl.utils import get_column_letter

    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(ncols)}{max(1, nrows + 1)}"
    for i, column in enumerate(ws.iter_cols(min_row=1, max_row=min(nrows + 1, 200)), start=1):
        widest = max((_width(c.value) for c in column), default=8)
        ws.column_dimensions[get_column_letter(i)].width = min(_MAX_WIDTH, widest + 3)


def write_workbook(path: Path, tasks: gpd.GeoDataFrame, lang: str) -> Path:
    """``tasks.xlsx``: a summary sheet, then one sheet per squad, for offices and squads.

    Headers in the output language, dates as dates, widths, autofilter, a dropdown of result
    words, links to the evidence and to navigation. Squads fill in the result columns and
    send it back (``skypatrol import-results``).
    """
    from openpyxl.worksheet.datavalidation import DataValidation

    col = 1 if lang == "zh" else 0
    headers = [c[1 + col] for c in SHEET_COLUMNS]
    fields = [c[0] for c in SHEET_COLUMNS]
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    taken: set[str] = set()
    summary.title = _sheet_title(t("summary", lang), taken)
    cats = list(CATEGORY_ORDER)
    summary.append([t("squad", lang)] + [f"{t(c, lang)} · {t('count', lang)}" for c in cats]
                   + [f"{t(c, lang)} · {t('area', lang)}" for c in cats])
    squads = sorted({str(s) for s in tasks["squad"]}) if len(tasks) else []
    for sq in squads:
        g = tasks[tasks.squad.astype(str) == sq]
        summary.append([safe_cell(sq or t("unassigned", lang))]
                       + [int((g.category == c).sum()) for c in cats]
                       + [round(float(g.loc[g.category == c, "area_m2"].sum()), 1)
                          for c in cats])
    summary.append([t("all_squads", lang)] + [int((tasks.category == c).sum()) if len(tasks)
                                               else 0 for c in cats]
                   + [round(float(tasks.loc[tasks.category == c, "area_m2"].sum()), 1)
                      if len(tasks) else 0.0 for c in cats])
    for cell in summary[summary.max_row]:
        cell.font = Font(bold=True)
    _finish_sheet(summary, 1 + 2 * len(cats), len(squads) + 1)
    choices = [t(r, lang) for r in FORM_RESULTS]
    for sq in squads:
        g = tasks[tasks.squad.astype(str) == sq]
        g = g.iloc[visiting_order(g)]
        ws = wb.create_sheet(_sheet_title(sq or t("unassigned", lang), taken))
        ws.append(headers)
        for rec in g.to_dict("records"):
            name = f"{rec['task_id']} {t(str(rec['category']), lang)}"
            values = {**rec, "category_label": t(str(rec["category"]), lang),
                      "object_label": t(str(rec["object_class"]), lang),
                      "status_label": t(str(rec["status"]), lang),
                      "review_label": t(str(rec["review"]), lang) if rec.get("review")
                      else None,
                      "checks_label": describe(rec.get("checks"), lang),
                      "priority_reason": priority_reason(
                          str(rec["category"]), float(rec["area_m2"]), str(rec["status"]),
                          str(rec.get("priority_reason") or ""), lang),
                      "navigate": t("navigate", lang), "result": None,
                      "result_date": None, "result_note": None}
            row = []
            for f in fields:
                v = _jsonable(values.get(f))
                if f in _DATE_FIELDS and isinstance(v, str) and v:
                    try:
                        v = dt.date.fromisoformat(v[:10])
                    except ValueError:
                        pass
                row.append(safe_cell(v))
            ws.append(row)
            r = ws.max_row
            ev = ws.cell(r, fields.index("evidence") + 1)
            ev.hyperlink, ev.style = str(rec["evidence"]), "Hyperlink"
            nav = ws.cell(r, fields.index("navigate") + 1)
            nav.hyperlink = amap_navigation(rec["lon_gcj02"], rec["lat_gcj02"], name)
            nav.style = "Hyperlink"
        n = len(g)
        last = max(n + 1, 200)  # squads add rows for sites they found themselves
        for f in _DATE_FIELDS:
            letter = ws.cell(1, fields.index(f) + 1).column_letter
            for cells in ws[f"{letter}2:{letter}{last}"]:
                cells[0].number_format = "yyyy-mm-dd"
        dv = DataValidation(type="list", formula1='"' + ",".join(choices) + '"',
                            allow_blank=True, showErrorMessage=True,
                            errorTitle=t("result_title", lang),
                            error=" / ".join(choices))
        res = ws.cell(1, fields.index("result") + 1).column_letter
        dv.add(f"{res}2:{res}{last}")
        ws.add_data_validation(dv)
        dd = DataValidation(type="date", operator="greaterThan", formula1="36526",
                            allow_blank=True, showErrorMessage=True, error="YYYY-MM-DD")
        rd = ws.cell(1, fields.index("result_date") + 1).column_letter
        dd.add(f"{rd}2:{rd}{last}")
        ws.add_data_validation(dd)
        _finish_sheet(ws, len(fields), n)
    wb.save(path)
    return path


CATEGORY_ORDER = ("illegal_construction", "green_encroachment", "illegal_billboard")
#: KML colours per category (aabbggrr): outline and a translucent fill.
KML_COLORS = {"illegal_construction": ("ff2827d6", "552827d6"),
              "green_encroachment": ("ff2ca02c", "552ca02c"),
              "illegal_billboard": ("ffbd6794", "55bd6794")}


def write_kml(out: Path, tasks: gpd.GeoDataFrame, lang: str) -> tuple[Path, Path]:
    """``tasks.kml`` (evidence linked) and ``tasks.kmz`` (the same document, evidence inside).

    Folders per squad, then per category; each site an outline and a pin styled by
    category, its balloon the evidence and the site's details.
    """
    from pipeline.render import render

    wgs = tasks.to_crs(WGS84) if len(tasks) else tasks
    kml = simplekml.Kml(name=kml_text(t("tasks", lang)))
    styles = {}
    for cat, (line, fill) in KML_COLORS.items():
        st = simplekml.Style()
        st.linestyle.color, st.linestyle.width = line, 3
        st.polystyle.color = fill
        st.iconstyle.color, st.iconstyle.scale = line, 1.1
        st.labelstyle.scale = 0.9
        styles[cat] = st
    squads = sorted({str(s) for s in tasks["squad"]}) if len(tasks) else []
    for sq in squads:
        fsq = kml.newfolder(name=kml_text(f"{t('squad', lang)} {sq or t('unassigned', lang)}"))
        for cat in CATEGORY_ORDER:
            sel = (tasks.squad.astype(str) == sq) & (tasks.category == cat)
            if not sel.any():
                continue
            fcat = fsq.newfolder(name=kml_text(t(cat, lang)))
            for (_, rec), geom in zip(tasks[sel].iterrows(), wgs.geometry[sel]):
                # the balloon is HTML (escaped by its template; simplekml escapes it for
                # XML); characters XML cannot hold are removed
                balloon = _CONTROL.sub("", render("kml_balloon.html.j2", lang, r=rec,
                                                  image=str(rec["evidence"])))
                label = f"{rec['task_id']} · {t(cat, lang)} · {rec['area_m2']:.0f} m²"
                pt = fcat.newpoint(name=kml_text(label), coords=[(rec["lon"], rec["lat"])])
                pt.description, pt.style = balloon, styles.get(cat)
                polys = [geom] if geom.geom_type == "Polygon" else \
                    [g for g in getattr(geom, "geoms", []) if g.geom_type == "Polygon"]
                for poly in polys:
                    pg = fcat.newpolygon(name=kml_text(str(rec["task_id"])),
                                         outerboundaryis=list(poly.exterior.coords),
                                         innerboundaryis=[list(i.coords)
                                                          for i in poly.interiors])
                    pg.description, pg.style = balloon, styles.get(cat)
    kml_path, kmz_path = out / "tasks.kml", out / "tasks.kmz"
    kml.save(str(kml_path))
    # a KMZ is the document as doc.kml with the files it links, at the same relative paths
    with zipfile.ZipFile(kmz_path, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(kml_path, "doc.kml")
        for ev in sorted({str(e) for e in tasks["evidence"]} if len(tasks) else []):
            if (out / ev).exists():
                z.write(out / ev, ev)
    return kml_path, kmz_path


def write_task_files(out: Path, tasks: gpd.GeoDataFrame, lang: str) -> dict[str, Path]:
    """``tasks.geojson``, ``tasks.csv`` (fields), ``tasks.xlsx``, ``tasks.kml``, ``tasks.kmz``."""
    fields = TASK_FIELDS + EXTRA_FIELDS
    # tasks that never met the register (no analyst has seen them): unreviewed
    tasks = tasks.assign(**{c: v for c, v in (("review", ""), ("verified", False),
                                              ("checks", "")) if c not in tasks})
    paths = {}
    fc = _feature_collection(tasks, fields)
    paths["geojson"] = out / "tasks.geojson"
    paths["geojson"].write_text(json.dumps(fc, ensure_ascii=False, indent=1), encoding="utf-8")
    rows = [[_jsonable(v) for v in r] for r in tasks[fields].itertuples(index=False)]
    paths["csv"] = out / "tasks.csv"
    with open(paths["csv"], "w", newline="", encoding="utf-8-sig") as f:  # BOM: Excel + 中文
        w = csv.writer(f)
        w.writerow(fields)
        for r in rows:
            w.writerow([safe_cell(v) for v in r])
    paths["xlsx"] = write_workbook(out / "tasks.xlsx", tasks, lang)
    paths["kml"], paths["kmz"] = write_kml(out, tasks, lang)
    return paths


def write_resolved(out: Path, resolved: gpd.GeoDataFrame) -> Path:
    """``resolved.geojson``: cases this survey confirmed gone."""
    from pipeline.outlines import clean_outline

    if len(resolved):
        resolved = resolved.set_geometry([clean_outline(g) for g in resolved.geometry],
                                         crs=resolved.crs)
    fields = [c for c in ("task_id", "category", "object_class", "area_m2", "first_seen",
                          "last_seen", "resolved_on", "resolved_by", "parcel_id", "district",
                          "squad") if c in resolved.columns]
    path = out / "resolved.geojson"
    path.write_text(json.dumps(_feature_collection(resolved, fields), ensure_ascii=False,
                               indent=1), encoding="utf-8")
    return path


def write_detections(out: Path, detections: gpd.GeoDataFrame) -> Path:
    """``detections.gpkg`` layer ``detections`` (projected CRS).

    Every merged model detection as the model saw it, with ``checks`` (the named checks that
    kept, dropped, relabelled or reshaped it; ``pipeline.checks``) and ``finding`` (the
    category it became, empty when it became none).
    """
    path = out / "detections.gpkg"
    path.unlink(missing_ok=True)
    cols = ["class", "score", "source"] + [c for c in ("checks", "finding") if c in detections]
    detections[[*cols, "geometry"]].to_file(
        path, layer="detections", driver="GPKG", engine="pyogrio")
    return path


def write_evidence(out: Path, tasks: gpd.GeoDataFrame, rasters: Sequence[str]
                   ) -> dict[str, tuple[Chip, str]]:
    """``evidence/<task_id>.jpg``: one chip per task, from the raster that holds it.

    The task's own source is tried first. Returns each task's chip and its raster. The
    rasters stay open and the tasks are cut in ground order (100 m bands), so neighbouring
    chips share decoded blocks.
    """
    found: dict[str, tuple[Chip, str]] = {}
    if len(tasks) == 0:
        return found
    (out / "evidence").mkdir(parents=True, exist_ok=True)
    pts = tasks.geometry.representative_point()
    order = np.lexsort((pts.x.to_numpy(), np.floor(pts.y.to_numpy() / 100.0)))
    with rgb_sources() as open_rgb:
        for k in order:
            row = tasks.iloc[int(k)]
            for raster in dict.fromkeys([row.source, *rasters]):  # its own source first
                if not str(raster).lower().endswith((".tif", ".tiff", ".vrt")) \
                        or (ds := open_rgb(str(raster))) is None:
                    continue
                c = chip(ds, row.geometry, tasks.crs)
                if c is not None:
                    (out / "evidence" / f"{row.task_id}.jpg").write_bytes(c.jpeg)
                    found[str(row.task_id)] = (c, str(raster))
                    break
    return found


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


def write_report(out: Path, summary: dict[str, Any], tasks: gpd.GeoDataFrame,
                 resolved: gpd.GeoDataFrame, lang: str) -> Path:
    """``report.html``: the survey's totals, tasks, resolved cases and skipped inputs."""
    from pipeline.render import render

    ordered = tasks.sort_values(["priority", "area_m2"], ascending=[True, False]) \
        if len(tasks) else tasks
    ordered = ordered.assign(checks_text=[describe(c, lang) for c in (
        ordered["checks"] if "checks" in ordered else [""] * len(ordered))])
    doc = render("report.html.j2", lang, summary=summary, totals=summary["totals"],
                 tasks=list(ordered.itertuples()) if len(ordered) else [],
                 resolved=list(resolved.itertuples()) if len(resolved) else [],
                 skipped=[i for i in summary["inputs"] if i["status"] == "skipped"])
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
        todo = np.flatnonzero(prio == p)
        while len(todo):  # the nearest site not yet visited (the first of equals)
            k = int(np.argmin(np.hypot(*(xy[todo] - here).T)))
            order.append(int(todo[k]))
            here = xy[todo[k]]
            todo = np.delete(todo, k)
    return order


def write_work_orders(out: Path, tasks: gpd.GeoDataFrame, summary: dict[str, Any], lang: str,
                      evidence: dict[str, tuple[Chip, str]] | None = None,
                      roads: gpd.GeoDataFrame | None = None,
                      earlier: Sequence[tuple[str, list[str]]] = ()) -> list[Path]:
    """``squads/<squad>.html``: each squad's sites in visiting order, one self-contained page.

    ``evidence`` is :func:`write_evidence`'s chips (and their rasters), ``roads`` the
    registry's road parcels, ``earlier`` the register's earlier surveys' imagery (the
    "before" chips).
    """
    paths = []
    (out / "squads").mkdir(exist_ok=True)
    files = squad_file_names([str(s) for s in tasks["squad"]] if len(tasks) else [])
    no_roads = gpd.GeoDataFrame(geometry=[], crs=tasks.crs)
    for squad, grp in (tasks.groupby("squad") if len(tasks) else []):
        grp = grp.iloc[visiting_order(grp)]
        cards = site_cards(grp, evidence or {}, str(summary["survey_date"]),
                           roads if roads is not None else no_roads, earlier, lang)
        p = out / "squads" / f"{files[str(squad)]}.html"
        p.write_text(render_work_order(str(squad), cards, summary, lang), encoding="utf-8")
        paths.append(p)
    return paths
