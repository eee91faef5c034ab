"""``skypatrol web``: analysts review findings on a live map of the survey imagery.

A FastAPI application over one case register (GeoPackage or PostGIS). The browser side is
one page (``templates/web.html.j2``, ``static/web.js``) on the vendored Leaflet and
leaflet-geoman; the orthophotos are served as web-map tiles read straight from the surveys'
rasters (rio-tiler, no copies). Reviews go to the register's ``reviews`` layer
(:func:`pipeline.cases.record_review`).

Bound to 127.0.0.1 by default. Off the loopback a token is required on every request (an
``Authorization: Bearer`` header, or the cookie the page sets when opened with ``?token=``).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pyproj import CRS
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from geodata.crs import WGS84
from geodata.errors import InputError
from geodata.registry import Registry, read_registry
from pipeline import cases as register
from pipeline.checks import describe
from pipeline.diff import locate
from pipeline.i18n import t
from pipeline.outlines import clean_outline
from pipeline.reviews import CLASSES, REJECT_REASONS, Review, added_task_id, area_task_id
from pipeline.workorders import chip

#: The largest request body the server reads, bytes (a drawn outline is a few kB).
MAX_BODY = 64 * 1024
STATIC = Path(__file__).with_name("static")
#: The files of ``static/`` the page may load.
STATIC_FILES = {"leaflet.js": "text/javascript", "leaflet.css": "text/css",
                "leaflet-geoman.min.js": "text/javascript", "leaflet-geoman.css": "text/css",
                "web.js": "text/javascript"}
#: Leaflet's control icons, which its stylesheet loads from ``images/``.
LEAFLET_IMAGES = frozenset({"layers.png", "layers-2x.png", "marker-icon.png",
                            "marker-icon-2x.png", "marker-shadow.png"})
COOKIE = "skypatrol_token"
#: Seconds a review waits for the register while a survey is being recorded into it.
REVIEW_WAIT_S = 30.0
TILE_PX = 256
#: Open rasters each server thread keeps (two file handles each: the raster and its VRT).
READERS_PER_THREAD = 8


@dataclass
class WebConfig:
    """What one ``skypatrol web`` serves.

    Attributes:
        cases: the case register (GeoPackage path or ``postgresql://`` URL).
        registry: the parcel registry (parcels and permits on the map; where added sites lie).
        token: required on every request when set.
        lang: the page's language.
        model_card: the model whose thresholds order the review queue (None: the shipped).
        allowed_hosts: the ``Host`` names requests may carry (None: any). A server on the
            loopback takes only its own names, so a web page elsewhere cannot reach it
            through a DNS name rebound to 127.0.0.1.

    """

    cases: Path | str
    registry: Path | None = None
    token: str | None = None
    lang: str = "en"
    model_card: Path | None = None
    allowed_hosts: tuple[str, ...] | None = None
    _registry: Registry | None = field(default=None, init=False, repr=False)

    def parcels(self) -> Registry | None:
        """The parcel registry, read once."""
        if self.registry is not None and self._registry is None:
            self._registry = read_registry(self.registry)
        return self._registry


def _thresholds(card_path: Path | None) -> Callable[[str], float]:
    from models.card import ModelCard
    from models.runtime import DEFAULT_CARD

    try:
        card = ModelCard.load(card_path or DEFAULT_CARD)
    except (OSError, ValueError):
        return lambda cls: 0.5
    return card.threshold


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _text(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


class Store:
    """The register as the web application reads it (re-read when the file or table changes)."""

    def __init__(self, ref: Path | str) -> None:
        self.ref = register.register_pg.register_ref(ref)
        self._lock = threading.Lock()
        self._stamp: Any = None
        self._layers: dict[str, Any] = {}

    def _version(self) -> Any:
        if isinstance(self.ref, Path):
            st = self.ref.stat()
            return (st.st_mtime_ns, st.st_size, st.st_ino)
        return dt.datetime.now().timestamp() // 2  # a database: re-read every 2 s at most

    def layers(self) -> dict[str, Any]:
        """The register's layers, in its own CRS."""
        if isinstance(self.ref, Path) and not self.ref.exists():
            raise InputError(f"{self.ref}: case register not found")
        with self._lock:
            v = self._version()
            if v != self._stamp:
                crs = register.register_crs(self.ref)
                if crs is None:
                    raise InputError(f"{self.ref}: the register holds no surveys yet")
                self._layers = register.read_register(self.ref, crs)
                self._layers["crs"] = crs
                self._stamp = v
            return self._layers


def _latest_obs(obs: pd.DataFrame) -> pd.DataFrame:
    """Each case's latest observation (its score and source)."""
    if not len(obs):
        return obs
    return obs.sort_values(["survey_date", "survey_id"]).groupby("task_id").tail(1) \
        .set_index("task_id")


def findings(layers: dict[str, Any], threshold: Callable[[str], float],
             survey: str | None = None, filters: dict[str, str] | None = None,
             min_score: float | None = None) -> gpd.GeoDataFrame:
    """The cases as the map shows them (WGS84), with score, margin and review."""
    cases = layers["cases"]
    obs = layers["observations"]
    if not len(cases):
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    c = cases.copy()
    if survey:
        in_survey = set(obs.task_id[obs.survey_id == survey])
        in_survey |= {r.task_id for r in layers["reviews"].itertuples()
                      if r.action == "add" and r.survey_id == survey}
        c = c[c.task_id.isin(in_survey)]
    latest = _latest_obs(obs)
    c["score"] = [_num(latest.at[tid, "confidence"]) if tid in latest.index else None
                  for tid in c.task_id]
    c["margin"] = [None if s is None else round(s - threshold(str(k)), 3)
                   for s, k in zip(c.score, c.object_class)]
    c["review"] = [_text(v) for v in c.get("review", pd.Series([None] * len(c), index=c.index))]
    for key, value in (filters or {}).items():
        if value:
            c = c[c[key].astype(str) == value]
    if min_score is not None:
        c = c[c.score.fillna(1.0) >= min_score]
    if not len(c):
        return c.set_crs(WGS84, allow_override=True)
    c = c.set_geometry([clean_outline(g) for g in c.geometry], crs=c.crs)
    return c.to_crs(WGS84)


def feature_collection(frame: gpd.GeoDataFrame, lang: str) -> dict[str, Any]:
    """GeoJSON of the map's findings (WGS84, ~1 cm).

    The outlines are cut to their corners as in every output (:mod:`pipeline.outlines`):
    an analyst corrects a roof by its corners, not by the pixel staircase of a mask.
    """
    feats = []
    for r in frame.itertuples():
        feats.append({"type": "Feature", "id": r.task_id,
                      "geometry": mapping(shapely.set_precision(r.geometry, 1e-8)),
                      "properties": {
                          "task_id": r.task_id, "category": r.category,
                          "category_label": t(str(r.category), lang),
                          "object_class": r.object_class, "status": r.status,
                          "area_m2": _num(r.area_m2), "score": r.score, "margin": r.margin,
                          "review": r.review, "district": _text(r.district),
                          "squad": _text(r.squad), "first_seen": _text(r.first_seen),
                          "last_seen": _text(r.last_seen)}})
    return {"type": "FeatureCollection", "features": feats}


def detail(layers: dict[str, Any], task_id: str, lang: str,
           threshold: Callable[[str], float] | None = None) -> dict[str, Any]:
    """A finding's panel: the case, its history across surveys, and its reviews.

    Raises:
        KeyError: no such case.

    """
    cases = layers["cases"]
    row = cases[cases.task_id == task_id]
    if not len(row):
        raise KeyError(task_id)
    c = row.iloc[0]
    obs = layers["observations"]
    hist = obs[obs.task_id == task_id].sort_values(["survey_date", "survey_id"])
    surveys = layers["surveys"].sort_values(["survey_date", "survey_id"])
    seen = {str(o.survey_id): o for o in hist.itertuples()}
    history = [{"survey_id": s.survey_id, "survey_date": s.survey_date,
                "seen": s.survey_id in seen,
                "area_m2": _num(seen[s.survey_id].area_m2) if s.survey_id in seen else None,
                "score": _num(seen[s.survey_id].confidence) if s.survey_id in seen else None,
                "chip": f"api/findings/{quote(task_id, safe='')}/chip/"
                        f"{quote(str(s.survey_id), safe='')}.jpg"}
               for s in surveys.itertuples()
               if s.geometry is not None and s.geometry.intersects(c.geometry)]
    rv = layers["reviews"]
    mine = rv[rv.task_id == task_id].sort_values("reviewed_at") if len(rv) else rv
    return {
        "task_id": task_id, "category": c.category, "category_label": t(str(c.category), lang),
        "object_class": c.object_class, "object_label": t(str(c.object_class), lang),
        "status": c.status, "area_m2": _num(c.area_m2), "district": _text(c.district),
        "squad": _text(c.squad), "parcel_id": _text(c.parcel_id),
        "first_seen": _text(c.first_seen), "last_seen": _text(c.last_seen),
        "review": _text(c.get("review")), "squad_result": _text(c.get("squad_result")),
        # the model's score at its latest sighting, and the threshold its class needs
        "score": _num(hist.confidence.iloc[-1]) if len(hist) else None,
        "threshold": threshold(str(c.object_class)) if threshold is not None else None,
        # the named checks that decided its latest sighting (pipeline.checks)
        "checks": describe(hist["checks"].iloc[-1], lang)
        if len(hist) and "checks" in hist else None,
        "source": _text(hist.source.iloc[-1]) if len(hist) else "review",
        # the survey a review of it is about: its latest sighting (or the survey it was added on)
        "survey_id": str(hist.survey_id.iloc[-1]) if len(hist) else
        next((str(r.survey_id) for r in mine.itertuples() if r.action == "add"), ""),
        "history": history,
        "reviews": [{"action": r.action, "reviewer": r.reviewer, "reviewed_at": r.reviewed_at,
                     "reason": _text(r.reason), "category": _text(r.category),
                     "object_class": _text(r.object_class), "note": _text(r.note)}
                    for r in mine.itertuples()],
    }


@lru_cache(maxsize=1)
def _blank_png() -> bytes:
    """A transparent tile (where the survey has no imagery)."""
    ok, buf = cv2.imencode(".png", np.zeros((TILE_PX, TILE_PX, 4), np.uint8))
    return bytes(buf)


def encode_tile(rgb: np.ndarray, mask: np.ndarray) -> tuple[bytes, str]:
    """A tile's bytes and media type.

    JPEG where every pixel is imaged (a thirtieth of PNG's encoding time, a seventh of its
    size), PNG with transparency at the imagery's edge.
    """
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    if mask.min() > 0:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return bytes(buf), "image/jpeg"
    ok, buf = cv2.imencode(".png", np.dstack([bgr, mask.astype(np.uint8)]),
                           [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return bytes(buf), "image/png"


_readers = threading.local()


def _reader(path: str) -> Any:
    """A rio-tiler Reader over the raster warped to web mercator, per thread and raster.

    The warped VRT is made once (building a coordinate transformation costs tens of ms,
    more than reading a tile); its implicit overviews follow the raster's own. Each server
    thread keeps its ``READERS_PER_THREAD`` most recently used (a dataset is not shared
    between threads), so the open files stay bounded however many rasters a survey has.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rio_tiler.io import Reader

    cache: OrderedDict[str, Any] | None = getattr(_readers, "cache", None)
    if cache is None:
        cache = _readers.cache = OrderedDict()
    if path in cache:
        cache.move_to_end(path)
        return cache[path][0]
    while len(cache) >= READERS_PER_THREAD:
        _, (reader, vrt, src) = cache.popitem(last=False)
        reader.close()
        vrt.close()
        src.close()
    src = rasterio.open(path)
    # nearest, as rio-tiler's default: half the time of bilinear per tile, and the
    # overview read is never more than twice the tile's resolution
    vrt = WarpedVRT(src, crs="EPSG:3857", resampling=Resampling.nearest)
    cache[path] = (Reader(input=path, dataset=vrt), vrt, src)
    return cache[path][0]


@lru_cache(maxsize=256)
def _mercator_bounds(path: str) -> tuple[float, float, float, float]:
    """A raster's bounds in web mercator (once per raster: PROJ is slow to set up)."""
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as ds:
        return tuple(transform_bounds(ds.crs, "EPSG:3857", *ds.bounds, densify_pts=21))


def tile(imagery: list[str], x: int, y: int, z: int) -> tuple[bytes, str]:
    """A 256 px web-mercator tile of a survey's rasters and its media type.

    Transparent where there is no imagery.

    Read in the calling thread from a cached reader (no thread pool per tile); several
    rasters under one tile are mosaicked, the first to cover a pixel wins.
    """
    import mercantile
    from rio_tiler.errors import EmptyMosaicError, TileOutsideBounds
    from rio_tiler.mosaic import mosaic_reader

    tb = mercantile.xy_bounds(x, y, z)
    hits = []
    for p in imagery:
        try:
            left, bottom, right, top = _mercator_bounds(p)
        except Exception:  # noqa: BLE001 - a moved or unreadable raster shows as no imagery
            continue
        if left < tb.right and right > tb.left and bottom < tb.top and top > tb.bottom:
            hits.append(p)
    if not hits:
        return _blank_png(), "image/png"

    def read(path: str, x: int, y: int, z: int, **kw: Any) -> Any:
        return _reader(path).tile(x, y, z, indexes=(1, 2, 3), tilesize=TILE_PX, **kw)

    try:
        img = read(hits[0], x, y, z) if len(hits) == 1 else \
            mosaic_reader(hits, read, x, y, z, threads=0)[0]
    except (TileOutsideBounds, EmptyMosaicError):
        return _blank_png(), "image/png"
    return encode_tile(np.moveaxis(img.data[:3], 0, 2), img.mask)


def parse_outline(value: Any, crs: CRS) -> BaseGeometry:
    """A GeoJSON polygon in WGS84, as the register keeps it (in its CRS).

    Raises:
        InputError: not a GeoJSON polygon with finite coordinates.

    """
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise InputError("the outline must be a GeoJSON Polygon")
    try:
        g = shape(value)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise InputError(f"the outline is not a GeoJSON polygon ({exc})") from None
    coords = shapely.get_coordinates(g)
    if not len(coords) or not np.isfinite(coords).all() or \
            (np.abs(coords) > [180, 90]).any():
        raise InputError("the outline's coordinates are not WGS84 longitudes and latitudes")
    return gpd.GeoSeries([g], crs=WGS84).to_crs(crs).iloc[0]


def create_app(cfg: WebConfig) -> Any:
    """The FastAPI application of ``skypatrol web``."""
    from pipeline.render import render

    store = Store(cfg.cases)
    threshold = _thresholds(cfg.model_card)
    app = FastAPI(title="skypatrol web", docs_url=None, redoc_url=None, openapi_url=None)
    if cfg.allowed_hosts is not None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(cfg.allowed_hosts))

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
            return JSONResponse({"detail": f"request body over {MAX_BODY} bytes"}, 413)
        if cfg.token:
            given = request.cookies.get(COOKIE) or request.query_params.get("token") or ""
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if not hmac.compare_digest(given.encode(), cfg.token.encode()):
                return JSONResponse({"detail": "a valid token is required"}, 401,
                                    headers={"WWW-Authenticate": "Bearer"})
            if request.query_params.get("token") and request.url.path == "/":
                # the link with the token opens the page once; the cookie carries it after
                resp = RedirectResponse("/", 303)
                resp.set_cookie(COOKIE, cfg.token, httponly=True, samesite="strict")
                return resp
        return await call_next(request)

    def layers() -> dict[str, Any]:
        try:
            return store.layers()
        except InputError as exc:
            raise HTTPException(503, str(exc)) from None

    @app.get("/", response_class=HTMLResponse)
    def page(lang: str | None = None) -> Any:
        lg = lang if lang in ("en", "zh") else cfg.lang
        return render("web.html.j2", lg, classes=CLASSES, reasons=REJECT_REASONS,
                      can_add=cfg.registry is not None)

    @app.get("/static/{name}")
    def static(name: str) -> Any:
        if name not in STATIC_FILES:
            raise HTTPException(404, f"no static file '{name}'")
        return Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "max-age=3600"})

    @app.get("/static/images/{name}")
    def static_image(name: str) -> Any:
        if name not in LEAFLET_IMAGES:
            raise HTTPException(404, f"no image '{name}'")
        return Response((STATIC / "images" / name).read_bytes(), media_type="image/png",
                        headers={"Cache-Control": "max-age=3600"})

    @app.get("/api/surveys")
    def surveys() -> Any:
        lay = layers()
        sv = lay["surveys"].sort_values(["survey_date", "survey_id"])
        wgs = sv.to_crs(WGS84) if len(sv) else sv
        obs = lay["observations"]
        return [{"survey_id": s.survey_id, "survey_date": s.survey_date,
                 "n_findings": int((obs.survey_id == s.survey_id).sum()),
                 "bounds": list(g.bounds) if g is not None and not g.is_empty else None}
                for s, g in zip(sv.itertuples(), wgs.geometry)]

    @app.get("/api/findings")
    def list_findings(survey: str | None = None, district: str | None = None,
                      squad: str | None = None, category: str | None = None,
                      status: str | None = None, review: str | None = None,
                      min_score: float | None = None, lang: str | None = None) -> Any:
        lay = layers()
        if survey and survey not in set(lay["surveys"].survey_id):
            raise HTTPException(404, f"unknown survey '{survey}'")
        f = findings(lay, threshold, survey, {"district": district or "", "squad": squad or "",
                                              "category": category or "",
                                              "status": status or "", "review": review or ""},
                     min_score)
        return feature_collection(f, lang if lang in ("en", "zh") else cfg.lang)

    @app.get("/api/queue")
    def queue(survey: str | None = None, limit: int = 50) -> Any:
        """Unreviewed findings, those the model was least sure of first."""
        f = findings(layers(), threshold, survey)
        if not len(f):
            return []
        f = f[f.review == ""]
        f = f.assign(doubt=[abs(m) if m is not None else math.inf for m in f.margin])
        f = f.sort_values(["doubt", "task_id"]).head(max(1, min(limit, 500)))
        return [{"task_id": r.task_id, "category": r.category, "score": r.score,
                 "margin": r.margin} for r in f.itertuples()]

    @app.get("/api/findings/{task_id}")
    def finding(task_id: str, lang: str | None = None) -> Any:
        try:
            return detail(layers(), task_id, lang if lang in ("en", "zh") else cfg.lang,
                          threshold)
        except KeyError:
            raise HTTPException(404, f"unknown finding '{task_id}'") from None

    @app.get("/api/findings/{task_id}/chip/{survey_id}.jpg")
    def finding_chip(task_id: str, survey_id: str) -> Any:
        lay = layers()
        case = lay["cases"][lay["cases"].task_id == task_id]
        sv = lay["surveys"][lay["surveys"].survey_id == survey_id]
        if not len(case) or not len(sv):
            raise HTTPException(404, "unknown finding or survey")
        for raster in str(sv.iloc[0].imagery or "").split(";"):
            c = chip(raster, case.iloc[0].geometry, lay["crs"]) if raster else None
            if c is not None:
                return Response(c.jpeg, media_type="image/jpeg")
        raise HTTPException(404, f"survey {survey_id} did not image {task_id}")

    @app.get("/api/parcels")
    def parcels() -> Any:
        reg = cfg.parcels()
        if reg is None:
            return {"type": "FeatureCollection", "features": []}
        return json.loads(_registry_geojson(reg))

    @app.get("/tiles/{survey_id}/{z}/{x}/{y}")
    def tiles(survey_id: str, z: int, x: int, y: int) -> Any:
        sv = layers()["surveys"]
        row = sv[sv.survey_id == survey_id]
        if not len(row):
            raise HTTPException(404, f"unknown survey '{survey_id}'")
        if not (0 <= z <= 24 and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
            raise HTTPException(404, "no such tile")
        paths = [p for p in str(row.iloc[0].imagery or "").split(";") if p]
        data, media = tile(paths, x, y, z)
        return Response(data, media_type=media, headers={"Cache-Control": "max-age=600"})

    @app.post("/api/reviews", status_code=201)
    async def post_review(request: Request) -> Any:
        from starlette.concurrency import run_in_threadpool

        # JSON only: a form or text/plain post from another site's page (no CORS preflight)
        # is refused before it is read
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "send the review as application/json")
        body = b""
        async for chunk in request.stream():  # a chunked body has no length to check first
            body += chunk
            if len(body) > MAX_BODY:
                raise HTTPException(413, f"request body over {MAX_BODY} bytes")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise HTTPException(400, "the body must be a JSON object")
        # the register's lock may be held by a survey: wait in a worker thread, not in the
        # event loop that serves everyone's tiles
        return await run_in_threadpool(_review, data)

    def _review(data: dict[str, Any]) -> Any:
        lay = layers()
        crs = lay["crs"]
        action = str(data.get("action", ""))
        strs = {k: (str(data[k]) if data.get(k) is not None else None)
                for k in ("task_id", "survey_id", "reason", "category", "object_class",
                          "note", "reviewer")}
        try:
            geom = parse_outline(data["geometry"], crs) \
                if data.get("geometry") is not None else None
            where: tuple[Any, ...] = (None, None, None)
            task_id = strs["task_id"] or ""
            if action == "add":
                reg = cfg.parcels()
                if reg is None:
                    raise HTTPException(409, "adding a site needs the parcel registry "
                                             "(skypatrol web --registry)")
                if geom is None:
                    raise InputError("the outline must be a polygon")
                where = locate(gpd.GeoSeries([geom], crs=crs).to_crs(reg.crs).iloc[0], reg)
                task_id = added_task_id(strs["survey_id"] or "", strs["category"] or "", geom)
            elif action == "area":
                if geom is None:
                    raise InputError("the reviewed area must be a polygon")
                task_id = area_task_id(strs["survey_id"] or "", geom)
            elif task_id not in set(lay["cases"].task_id):
                raise HTTPException(404, f"unknown finding '{task_id}'")
            row = register.record_review(store.ref, Review(
                task_id=task_id, survey_id=strs["survey_id"] or "", action=action,
                reviewer=strs["reviewer"] or "", reason=strs["reason"],
                category=strs["category"], object_class=strs["object_class"],
                note=strs["note"], geometry=geom, parcel_id=where[0], district=where[1],
                squad=where[2]), wait_s=REVIEW_WAIT_S)
        except InputError as exc:
            msg = str(exc)
            code = 503 if "still held" in msg else 422
            raise HTTPException(code, msg) from None
        return {"review_id": row["review_id"], "task_id": task_id, "action": action,
                "reviewed_at": row["reviewed_at"]}

    return app


def _registry_geojson(reg: Registry) -> str:
    """Parcels and permits as one GeoJSON (WGS84), each feature with its ``layer``."""
    frames = []
    for name, df in (("parcel", reg.parcels), ("permit", reg.permitted_structures),
                     ("billboard_permit", reg.billboard_permits)):
        if len(df):
            keep = [c for c in ("parcel_id", "land_use", "district", "permit_id", "kind",
                                "structure_class") if c in df]
            frames.append(df[keep + ["geometry"]].assign(layer=name).to_crs(WGS84))
    if not frames:
        return json.dumps({"type": "FeatureCollection", "features": []})
    both = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry",
                            crs=WGS84)
    return str(both.to_json(drop_id=True))


def is_loopback(host: str) -> bool:
    """Whether a bind address is only reachable from this machine."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def access_token(host: str, token: str | None) -> str | None:
    """The token the server requires: the one given; off the loopback, one made up if none."""
    import secrets

    if not token and not is_loopback(host):
        return secrets.token_urlsafe(24)
    return token or None


def free_port() -> int:
    """A free TCP port on the loopback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(cfg: WebConfig) -> Iterator[str]:
    """The application on a free loopback port in a thread of this process; yields its URL.

    For the screenshots and the browser tests; stopped on leaving the block.
    """
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(cfg), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(10)


def serve(cfg: WebConfig, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the web application until interrupted (uvicorn)."""
    import uvicorn

    if is_loopback(host) and cfg.allowed_hosts is None:
        cfg.allowed_hosts = ("127.0.0.1", "localhost", "[::1]", "::1")
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning")
