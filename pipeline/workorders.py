"""Work orders for squads in the street: one self-contained page per squad.

Each page works alone (forwarded over WeChat, opened from a phone's downloads, printed on
A4): the imagery is embedded, every site is a card with its address-level location, links
that open Amap (GCJ-02) and Baidu Maps (BD-09), a QR code of the navigation link for the
printed sheet, before/after chips with scale bar, north arrow and capture date, and a result
form whose saved file ``skypatrol import-results`` reads.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import cv2
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import segno
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.windows import Window, from_bounds
from shapely.geometry.base import BaseGeometry

from geodata.crs import gcj02_to_bd09, same_crs
from geodata.raster import rgb_sources
from pipeline.checks import describe
from pipeline.i18n import t
from pipeline.render import data_uri, render
from pipeline.results_sheet import FORM_RESULTS

#: Lengths a scale bar may show, metres.
_SCALE_STEPS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 500)


@dataclass(frozen=True)
class Chip:
    """A north-up crop of the imagery around a site, with its outline drawn."""

    jpeg: bytes
    width_px: int
    height_px: int
    m_per_px: float

    @property
    def uri(self) -> str:
        """The chip as a ``data:`` URI."""
        return data_uri(self.jpeg)

    def scale_bar(self, share: float = 0.3) -> dict[str, float]:
        """A round length near ``share`` of the chip's width, and its share of the width."""
        width_m = self.width_px * self.m_per_px
        length = max([s for s in _SCALE_STEPS if s <= width_m * share] or [_SCALE_STEPS[0]])
        return {"m": length, "pct": round(100.0 * length / width_m, 2)}


def chip(raster: str | DatasetReader, geom: BaseGeometry, crs: CRS | str,
         margin_m: float = 8.0, max_px: int = 640, line_px: int = 2) -> Chip | None:
    """Crop ``raster`` around ``geom`` (outlined in red); None when the site is not imaged.

    ``raster``: a path, or a dataset kept open by the caller (``geodata.raster.rgb_sources``):
    many chips from one open raster decode each of its blocks once, not once per chip.
    """
    if isinstance(raster, DatasetReader):
        return _chip(raster, geom, crs, margin_m, max_px, line_px)
    try:
        ds = rasterio.open(raster)
    except rasterio.errors.RasterioIOError:
        return None
    with ds:
        return _chip(ds, geom, crs, margin_m, max_px, line_px)


def _chip(ds: DatasetReader, geom: BaseGeometry, crs: CRS | str, margin_m: float, max_px: int,
          line_px: int) -> Chip | None:
    if ds.crs is None:
        return None
    site = geom
    if not same_crs(ds.crs, crs):
        site = gpd.GeoSeries([geom], crs=crs).to_crs(ds.crs).iloc[0]
    x0, y0, x1, y1 = site.bounds
    x0, y0, x1, y1 = x0 - margin_m, y0 - margin_m, x1 + margin_m, y1 + margin_m
    L, B, R, T = ds.bounds
    c = site.centroid
    if not (L <= c.x <= R and B <= c.y <= T):
        return None
    x0, y0, x1, y1 = max(x0, L), max(y0, B), min(x1, R), min(y1, T)
    win = from_bounds(x0, y0, x1, y1, ds.transform).round_offsets().round_lengths()
    if win.width < 2 or win.height < 2:
        return None
    bgr, transform = _read_bgr(ds, win, max_px)
    if not bgr.any():  # the site lies in the raster's no-data margin
        return None
    shape_ = bgr.shape[:2]
    inv = ~transform
    polys = [site] if site.geom_type == "Polygon" else list(getattr(site, "geoms", []))
    for poly in polys:
        if poly.geom_type != "Polygon":
            continue
        pts = np.array([inv * xy for xy in poly.exterior.coords], np.float64)
        pts_i = np.round((pts - 0.5) * 16).astype(np.int32)
        cv2.polylines(bgr, [pts_i], True, (0, 0, 255), line_px, cv2.LINE_AA, 4)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        return None
    return Chip(buf.tobytes(), shape_[1], shape_[0], abs(transform.a))


def _read_bgr(ds: DatasetReader, win: Window, max_px: int
              ) -> tuple[np.ndarray, rasterio.Affine]:
    """``win`` of ``ds`` as BGR, at most ``max_px`` on its longer side, and its transform.

    Read from the coarsest overview no coarser than needed, on that overview's own pixel grid
    (a plain copy of decoded blocks); what is left to shrink is averaged by a whole factor
    (OpenCV's fast path) and the last step, less than halving, is bilinear. GDAL averaging
    straight to an arbitrary size costs 4-25 ms a chip, and a dense survey cuts two per site.
    """
    need = max(win.width, win.height) / max_px
    f = max([1, *(o for o in ds.overviews(1) if o <= need)])
    m = max(1, int(need / f))  # whole factor averaged after the read
    step = f * m
    if step > 1:  # the window on a grid of ``step`` pixels (at most step - 1 wider)
        c0, r0 = (int(win.col_off) // step) * step, (int(win.row_off) // step) * step
        c1 = -(-int(win.col_off + win.width) // step) * step
        r1 = -(-int(win.row_off + win.height) // step) * step
        c1 = c1 if c1 <= ds.width else c0 + (ds.width - c0) // step * step
        r1 = r1 if r1 <= ds.height else r0 + (ds.height - r0) // step * step
        if c1 - c0 >= 2 * step and r1 - r0 >= 2 * step:
            win = Window(c0, r0, c1 - c0, r1 - r0)
        else:  # too little left on the grid: GDAL averages this small one
            f = m = 1
    read = (max(2, round(win.height / f)), max(2, round(win.width / f)))
    r, g, b = ds.read((1, 2, 3), window=win, out_shape=(3, *read),
                      resampling=Resampling.average)
    bgr = cv2.merge([b, g, r])
    if m > 1 and read[0] % m == 0 and read[1] % m == 0:
        bgr = cv2.resize(bgr, (read[1] // m, read[0] // m), interpolation=cv2.INTER_AREA)
    k = min(1.0, max_px / max(win.width, win.height))
    shape_ = (max(2, int(win.height * k)), max(2, int(win.width * k)))
    if shape_ != bgr.shape[:2]:  # bilinear where less than halving is left
        halving = max(bgr.shape[:2]) > 2 * max(shape_)
        bgr = cv2.resize(bgr, (shape_[1], shape_[0]),
                         interpolation=cv2.INTER_AREA if halving else cv2.INTER_LINEAR)
    transform = ds.window_transform(win) * rasterio.Affine.scale(
        win.width / shape_[1], win.height / shape_[0])
    return bgr, transform


#: The QR mask pattern every code uses. Any of the eight is valid (ISO/IEC 18004); choosing
#: the best one per code scores all eight and was most of a dense survey's work-order time.
QR_MASK = 4


def qr_code(text: str) -> segno.QRCode:
    """The QR code of ``text`` a work order prints (error correction M, ``QR_MASK``)."""
    return segno.make(text, error="m", mask=QR_MASK)


def qr_svg(text: str) -> str:
    """A QR code of ``text`` as an SVG document (segno), sized by its container."""
    out = io.BytesIO()
    qr_code(text).save(out, kind="svg", scale=4, border=2, xmldecl=False, svgns=True,
                       omitsize=True)
    return out.getvalue().decode()


def amap_navigation(lon_gcj: float, lat_gcj: float, name: str) -> str:
    """A link that opens Amap's navigation to the site (the app where installed)."""
    return "https://uri.amap.com/navigation?" + urlencode({
        "to": f"{lon_gcj:.6f},{lat_gcj:.6f},{name}", "mode": "car", "policy": "1",
        "src": "skypatrol", "coordinate": "gaode", "callnative": "1"}, quote_via=quote)


def amap_marker(lon_gcj: float, lat_gcj: float, name: str) -> str:
    """A link that shows the site in Amap (the app where installed)."""
    return "https://uri.amap.com/marker?" + urlencode({
        "position": f"{lon_gcj:.6f},{lat_gcj:.6f}", "name": name, "src": "skypatrol",
        "coordinate": "gaode", "callnative": "1"}, quote_via=quote)


def baidu_marker(lon_gcj: float, lat_gcj: float, name: str) -> str:
    """A link that shows the site in Baidu Maps (BD-09 coordinates)."""
    blon, blat = gcj02_to_bd09(lon_gcj, lat_gcj)
    return "https://api.map.baidu.com/marker?" + urlencode({
        "location": f"{blat:.6f},{blon:.6f}", "title": name, "content": name,
        "coord_type": "bd09ll", "output": "html", "src": "skypatrol"}, quote_via=quote)


def road_parcels(registry_path: Path | str) -> gpd.GeoDataFrame:
    """The registry's road parcels (``land_use`` = road), for a site's nearest road."""
    try:
        parcels = gpd.read_file(registry_path, layer="parcels", engine="pyogrio")
    except Exception:  # noqa: BLE001 - a site's road is a convenience, never a failure
        return gpd.GeoDataFrame(geometry=[])
    return parcels[parcels.land_use == "road"].reset_index(drop=True)


def nearest_roads(geoms: gpd.GeoSeries, roads: gpd.GeoDataFrame
                  ) -> list[tuple[str, float] | None]:
    """Each site's nearest road parcel: its name (or id) and its distance in metres.

    One query of the roads' spatial index for every site.
    """
    if len(roads) == 0 or len(geoms) == 0:
        return [None] * len(geoms)
    (at, road), dist = roads.sindex.nearest(geoms.to_numpy(), return_all=True,
                                            return_distance=True)
    names = roads["name"] if "name" in roads.columns else [None] * len(roads)
    label = [str(n) if isinstance(n, str) and n else str(pid)
             for n, pid in zip(names, roads["parcel_id"])]
    out: list[tuple[str, float] | None] = [None] * len(geoms)
    for i, j, d in sorted(zip(at.tolist(), road.tolist(), dist.tolist()), reverse=True):
        out[i] = (label[j], d)  # of equally near roads, the registry's first
    return out


def earlier_imagery(surveys: pd.DataFrame, survey_id: str, date: dt.date
                    ) -> list[tuple[str, list[str]]]:
    """``(date, rasters)`` of the register's surveys before ``date``, latest first."""
    if len(surveys) == 0:
        return []
    s = surveys[(surveys.survey_id != survey_id) & (surveys.survey_date < date.isoformat())]
    s = s.sort_values("survey_date", ascending=False)
    return [(str(r.survey_date), [p for p in str(r.imagery).split(";") if p])
            for r in s.itertuples() if isinstance(r.imagery, str)]


def _before_chip(geom: BaseGeometry, crs: Any, earlier: Sequence[tuple[str, list[str]]],
                 open_rgb: Callable[[str], DatasetReader | None]) -> tuple[Chip, str] | None:
    for date, paths in earlier:
        for p in paths:
            if Path(p).exists() and (ds := open_rgb(p)) is not None \
                    and (c := chip(ds, geom, crs)) is not None:
                return c, date
    return None


_NEAR = re.compile(r"(\d+) open case\(s\) within (\d+) m")


def priority_reason(category: str, area_m2: float, status: str, reason: str, lang: str) -> str:
    """The register's priority reason in the page's language."""
    m = _NEAR.search(reason or "")
    near = t("open_nearby", lang).format(n=m[1], m=m[2]) if m else ""
    return "; ".join(x for x in (t(category, lang), f"{area_m2:.0f} m²", t(status, lang), near)
                     if x)


def site_cards(tasks: gpd.GeoDataFrame, evidence: dict[str, tuple[Chip, str]],
               survey_date: str, roads: gpd.GeoDataFrame,
               earlier: Sequence[tuple[str, list[str]]], lang: str) -> list[dict[str, Any]]:
    """Everything a work order shows of each site, in the order given.

    ``evidence``: each task's evidence chip and the raster it was cut from (the "after"
    chip; the surroundings are cut from the same raster).
    """
    with rgb_sources() as open_rgb:
        return _site_cards(tasks, evidence, survey_date, roads, earlier, lang, open_rgb)


def _site_cards(tasks: gpd.GeoDataFrame, evidence: dict[str, tuple[Chip, str]],
                survey_date: str, roads: gpd.GeoDataFrame,
                earlier: Sequence[tuple[str, list[str]]], lang: str,
                open_rgb: Callable[[str], DatasetReader | None]) -> list[dict[str, Any]]:
    cards = []
    near = nearest_roads(tasks.geometry, roads)
    for stop, (r, road) in enumerate(zip(tasks.itertuples(), near), start=1):
        after, raster = evidence.get(str(r.task_id), (None, None))
        ds = open_rgb(raster) if raster else None
        snippet = chip(ds, r.geometry, tasks.crs, margin_m=45.0, max_px=480, line_px=3) \
            if ds is not None else None
        before = _before_chip(r.geometry, tasks.crs, earlier, open_rgb)
        name = f"{r.task_id} {t(str(r.category), lang)}"
        nav = amap_navigation(r.lon_gcj02, r.lat_gcj02, name)
        cards.append({
            "stop": stop, "task_id": str(r.task_id), "priority": int(r.priority),
            "priority_reason": priority_reason(str(r.category), float(r.area_m2), str(r.status),
                                               str(getattr(r, "priority_reason", "") or ""),
                                               lang),
            "category": str(r.category), "object_class": str(r.object_class),
            "status": str(r.status), "area_m2": float(r.area_m2),
            "review": str(getattr(r, "review", "") or ""),
            "checks": describe(getattr(r, "checks", ""), lang),
            "first_seen": str(r.first_seen), "district": str(r.district or ""),
            "parcel_id": "" if r.parcel_id is None or (isinstance(r.parcel_id, float)
                                                     and math.isnan(r.parcel_id))
            else str(r.parcel_id),
            "road": road[0] if road else "", "road_m": round(road[1]) if road else None,
            "lat": float(r.lat), "lon": float(r.lon),
            "lat_gcj02": float(r.lat_gcj02), "lon_gcj02": float(r.lon_gcj02),
            "nav": nav, "amap": amap_marker(r.lon_gcj02, r.lat_gcj02, name),
            "baidu": baidu_marker(r.lon_gcj02, r.lat_gcj02, name),
            "qr": qr_svg(nav),
            "after": after, "after_date": survey_date,
            "before": before[0] if before else None, "before_date": before[1] if before else "",
            "snippet": snippet,
        })
    return cards


def render_work_order(squad: str, cards: list[dict[str, Any]], summary: dict[str, Any],
                      lang: str) -> str:
    """The work order page of one squad."""
    return render("work_order.html.j2", lang, squad=squad, cards=cards,
                  survey_id=summary["survey_id"], survey_date=summary["survey_date"],
                  results=FORM_RESULTS)
