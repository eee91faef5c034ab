"""Tiled detection over large rasters, merged across tile seams into world polygons.

Windowed reads at the model's GSD (never the whole raster), batched inference, and one
polygon per structure however many tiles cut it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
import shapely.affinity
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.features import shapes
from rasterio.windows import Window
from shapely.geometry import Polygon, box, shape
from shapely.geometry.base import BaseGeometry

from geodata.crs import same_crs
from geodata.errors import InvalidImageryError
from geodata.raster import GDAL_CACHE_BYTES, rgb_sources
from models.runtime import Detector, RawDetection, chw_to_hwc
from pipeline.diff import overlap_ratio, without_slivers
from pipeline.groups import connected_groups


@dataclass(frozen=True)
class TilingConfig:
    """How a raster is cut for the model.

    Attributes:
        imgsz: tile side in model pixels.
        model_gsd_m: the model's GSD; rasters are resampled to it on read.
        overlap: share of a tile repeated in its neighbour (objects cut by one tile are whole
            in the next, up to ``overlap * imgsz * model_gsd_m`` metres).
        batch: tiles per inference batch.
        min_area_m2: detections smaller than this are dropped as noise.

    """

    imgsz: int = 384
    model_gsd_m: float = 0.10
    overlap: float = 0.2
    batch: int = 8
    min_area_m2: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.overlap < 0.5:
            raise ValueError(f"overlap must be in [0, 0.5), got {self.overlap}")
        if self.imgsz <= 0 or self.model_gsd_m <= 0 or self.batch <= 0:
            raise ValueError("imgsz, model_gsd_m and batch must be positive")

    @classmethod
    def for_detector(cls, det: Detector, batch: int = 8) -> TilingConfig:
        """The tiling the model's card asks for."""
        c = det.card
        return cls(imgsz=c.imgsz, model_gsd_m=c.gsd_cm / 100, overlap=c.tile_overlap,
                   batch=batch)


@dataclass(frozen=True)
class Tile:
    """A tile: its source window (raster pixels) and the transform of its model pixels."""

    window: Window
    transform: Affine  # model-pixel edges -> world
    edges: tuple[bool, bool, bool, bool]  # left, top, right, bottom lie inside the raster
    core: tuple[float, float, float, float]  # model px x0, y0, x1, y1 it is trusted in


def plan_tiles(width: int, height: int, transform: Affine, cfg: TilingConfig) -> list[Tile]:
    """Overlapping square windows covering the raster, each ``imgsz`` model pixels wide.

    The last row and column are shifted back inside the raster, so every tile is full size
    (unless the raster itself is smaller than one tile).
    """
    gsd = abs(transform.a)
    size = max(1, int(round(cfg.imgsz * cfg.model_gsd_m / gsd)))  # source pixels per tile
    stride = max(1, int(round(size * (1 - cfg.overlap))))

    def starts(n: int) -> list[int]:
        if n <= size:
            return [0]
        s = list(range(0, n - size, stride))
        return [*s, n - size]

    def cores(ss: list[int], n: int) -> list[tuple[float, float]]:
        """Each tile's share along one axis (source px from its start): seams mid-overlap."""
        out = []
        for i, a in enumerate(ss):
            lo = (a + ss[i - 1] + size) / 2 - a if i > 0 else 0.0
            hi = (ss[i + 1] + a + size) / 2 - a if i + 1 < len(ss) else float(min(size, n - a))
            out.append((lo, hi))
        return out

    tiles = []
    rows, cols = starts(height), starts(width)
    for row, (cy0, cy1) in zip(rows, cores(rows, height)):
        for col, (cx0, cx1) in zip(cols, cores(cols, width)):
            w, h = min(size, width - col), min(size, height - row)
            win = Window(col, row, w, h)
            scale_x, scale_y = w / cfg.imgsz, h / cfg.imgsz
            t = rasterio.windows.transform(win, transform) * Affine.scale(scale_x, scale_y)
            edges = (col > 0, row > 0, col + w < width, row + h < height)
            core = (cx0 / scale_x, cy0 / scale_y, cx1 / scale_x, cy1 / scale_y)
            tiles.append(Tile(win, t, edges, core))
    return tiles


def read_tile(ds: rasterio.io.DatasetReader, tile: Tile, imgsz: int) -> np.ndarray | None:
    """Read a tile resampled to ``imgsz`` (area average; overviews when they fit).

    Returns HWC RGB uint8, or None for a tile that is all nodata.
    """
    try:
        data = ds.read((1, 2, 3), window=tile.window, out_shape=(3, imgsz, imgsz),
                       resampling=Resampling.average, boundless=False)
        mask = ds.read_masks(1, window=tile.window, out_shape=(imgsz, imgsz),
                             resampling=Resampling.nearest)
    except rasterio.errors.RasterioError as exc:  # ingest checks truncation, not every pixel
        w = tile.window
        raise InvalidImageryError(
            f"{ds.name}: pixels at column {w.col_off}, row {w.row_off} cannot be decoded "
            f"({exc}); the file is corrupt") from exc
    if not mask.any() or not data.any():
        return None
    rgb = chw_to_hwc(data)
    if not mask.all():
        rgb[mask == 0] = 0
    return rgb


def mask_to_polygon(mask: np.ndarray, transform: Affine) -> Polygon | None:
    """The largest connected polygon of a boolean mask, with exact pixel-edge coordinates.

    Only the mask's bounding box is traced (tracing costs by the pixel, and a roof is a
    small part of its tile).
    """
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not len(rows):
        return None
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    part = np.ascontiguousarray(mask[r0:r1, c0:c1])
    polys = [shape(geom) for geom, val in shapes(part.astype(np.uint8), mask=part,
                                                 transform=Affine.translation(c0, r0))
             if val == 1]  # in whole pixels of the tile: exact
    if not polys:
        return None
    best = max(polys, key=lambda p: p.area)
    t = transform
    best = shapely.affinity.affine_transform(Polygon(best.exterior),  # holes are noise
                                             [t.a, t.b, t.d, t.e, t.c, t.f])
    return best.simplify(abs(transform.a) * 0.5, preserve_topology=True)


@dataclass
class TileDetection:
    """One structure as detection sees it: class index, score, world outline, and its view.

    The public record of detection: made per tile, merged across tile seams and across
    images (``merge_detections``), then handed on as the rows of a detections frame.
    """

    cls: int
    score: float
    geom: BaseGeometry
    cut: bool  # touches an inner tile edge: possibly only part of the object
    source: str = ""  # the image it came from (when merging across images)
    core: BaseGeometry | None = None  # where its tile is the most central view (None: all)
    frame: BaseGeometry | None = None  # the ground its tile saw (None: not a tile's view)
    #: a lone view that its neighbours, looking at the same ground, did not see
    unconfirmed: bool = False


def tile_core(tile: Tile) -> Polygon:
    """The part of a tile no neighbour sees more centrally, in world coordinates.

    Seams lie in the middle of each overlap, so the cores of a tiling partition the raster
    and a structure cut by tiles is stitched from the views that trust it.
    """
    x0, y0, x1, y1 = tile.core
    return Polygon([tile.transform * (x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1),
                                                         (x0, y1))])


def _touches_inner_edge(mask: np.ndarray, edges: tuple[bool, bool, bool, bool]) -> bool:
    left, top, right, bottom = edges
    return bool(
        (left and mask[:, :2].any()) or (top and mask[:2, :].any())
        or (right and mask[:, -2:].any()) or (bottom and mask[-2:, :].any())
    )


def _to_dets(raw: list[RawDetection], tile: Tile, min_area: float) -> list[TileDetection]:
    out = []
    core = tile_core(tile)
    frame = None
    for r in raw:
        poly = mask_to_polygon(r.mask, tile.transform)
        if poly is None or poly.area < min_area:
            continue
        if frame is None:
            h, w = r.mask.shape
            frame = Polygon([tile.transform * xy for xy in ((0, 0), (w, 0), (w, h), (0, h))])
        out.append(TileDetection(r.class_id, r.score, poly, _touches_inner_edge(r.mask, tile.edges),
                        core=core, frame=frame))
    return out


def _stitch(members: list[TileDetection]) -> BaseGeometry:
    """The union of a cluster's views, each trusted where no other view is more central.

    A view counts inside its own tile's core and wherever no other view's tile has its core:
    a mask near a tile edge bleeds and breaks off.
    """
    cores = [d.core for d in members]
    if all(c is None for c in cores):
        return shapely.union_all([d.geom for d in members])
    pieces = []
    for i, d in enumerate(members):
        if d.core is None:
            pieces.append(d.geom)
            continue
        others = [c for j, c in enumerate(cores) if j != i and c is not None
                  and not c.equals(d.core)]
        elsewhere = shapely.union_all(others) if others else Polygon()
        pieces.append(d.geom.intersection(d.core).union(d.geom.difference(elsewhere)))
    return shapely.union_all(pieces)


def _unseen_by_neighbours(d: TileDetection, share: float = 0.3) -> bool:
    """A lone view cut by its tile's edge, or lying largely in its neighbours' cores.

    The neighbouring tiles looked at that ground more centrally and found nothing there.
    """
    if d.core is None:  # not a tile's view (detections merged across images)
        return False
    return d.cut or d.geom.difference(d.core).area > share * d.geom.area


def merge_detections(dets: list[TileDetection], ios: float = 0.3) -> list[TileDetection]:
    """Merge one structure seen by several overlapping tiles into one detection.

    Detections of the same class whose intersection exceeds ``ios`` of the smaller one are
    clustered; for views cut by their tiles' edges, of the smaller part that lies on the
    ground both tiles saw (the pieces of a structure far larger than a tile share only the
    overlap strips). A cluster with a whole view (a member not cut by a tile edge) keeps the
    best whole member; a cluster of pieces (a structure larger than a tile) becomes their
    union.
    """
    if not dets:
        return []
    geoms = [d.geom for d in dets]
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    links = [(i, j) for i, j in zip(left.tolist(), right.tolist())
             if i < j and dets[i].cls == dets[j].cls
             and _shared_view(dets[i], dets[j]) > ios]
    merged = []
    for group in connected_groups(len(dets), links):
        members = [dets[i] for i in group]
        if len(members) == 1:
            d = members[0]
            merged.append(replace(d, unconfirmed=d.unconfirmed or _unseen_by_neighbours(d)))
            continue
        whole = [d for d in members if not d.cut]
        if whole:
            best = max(whole, key=lambda d: (d.score, d.geom.area))
            # a whole view smaller than the cut pieces means the structure is bigger than it
            union = _stitch(members)
            if union.area > best.geom.area * 1.25 and any(d.cut for d in members):
                merged.append(TileDetection(best.cls, best.score, _polygonal(union), False,
                                            best.source))
            else:
                merged.append(replace(best, unconfirmed=False))
        else:
            union = _stitch(members)
            top = max(members, key=lambda d: d.score)
            merged.append(TileDetection(top.cls, top.score, _polygonal(union), True, top.source))
    return _one_class_per_outline(merged)


def _shared_view(a: TileDetection, b: TileDetection) -> float:
    """How much two views of one class agree: their intersection over the smaller one.

    When either is cut by its tile's edge, only the ground both tiles saw counts, but at
    least a fifth of the smaller view (a mask that merely bleeds into its neighbour's roof on
    that ground does not join two buildings).
    """
    inter = a.geom.intersection(b.geom).area
    smaller = min(a.geom.area, b.geom.area)
    if (a.cut or b.cut) and a.frame is not None and b.frame is not None:
        both = a.frame.intersection(b.frame)
        seen = min(a.geom.intersection(both).area, b.geom.intersection(both).area)
        return inter / max(1e-9, seen, 0.2 * smaller)
    return inter / max(1e-9, smaller)


def _one_class_per_outline(dets: list[TileDetection], iou: float = 0.7) -> list[TileDetection]:
    """One structure the model saw twice, as two classes with one outline, keeps its best.

    The classes of a structure (building, shed) blur around 100 m²; a shed on a roof has a
    far smaller outline than its roof and is not touched.
    """
    geoms = [d.geom for d in dets]
    drop: set[int] = set()
    for i, j in _same_outline_pairs(geoms, iou):
        if dets[i].cls != dets[j].cls and i not in drop and j not in drop:
            drop.add(min((i, j), key=lambda k: (dets[k].score, geoms[k].area)))
    return [d for k, d in enumerate(dets) if k not in drop]


def _same_outline_pairs(geoms: Sequence[BaseGeometry], iou: float) -> list[tuple[int, int]]:
    """Index pairs ``i < j`` of outlines that overlap at IoU >= ``iou``."""
    if len(geoms) < 2:
        return []
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    return [(i, j) for i, j in zip(left.tolist(), right.tolist())
            if i < j and overlap_ratio(geoms[i], geoms[j]) >= iou]


def _polygonal(g: BaseGeometry) -> Polygon:
    if isinstance(g, Polygon):
        return Polygon(g.exterior)
    parts = [p for p in getattr(g, "geoms", []) if isinstance(p, Polygon)]
    if not parts:
        return Polygon()
    # close hairline gaps between pieces, keep the outline
    closed = shapely.union_all(parts).buffer(0.05, join_style="mitre").buffer(
        -0.05, join_style="mitre")
    if isinstance(closed, Polygon):
        return Polygon(closed.exterior)
    return Polygon(max(getattr(closed, "geoms", parts), key=lambda p: p.area).exterior)


#: A board seen from above: a thin slab. Bounds for masks (which bleed ~0.3 m each side).
BOARD_MAX_DEPTH_M = 2.5
BOARD_MIN_ASPECT = 3.0
BOARD_MIN_AREA_M2 = 3.0


def looks_like_board(geom: BaseGeometry) -> bool:
    """Whether an outline is shaped like a billboard seen from above (a thin slab).

    At least 3 m², at most 2.5 m deep and at least three times as long as deep. Billboards
    scoring below the model's general threshold (but above the card's billboard threshold)
    must pass it: a car or a road marking is not a thin slab.
    """
    if geom.is_empty or geom.area < BOARD_MIN_AREA_M2:
        return False
    rect = geom.minimum_rotated_rectangle
    xy = list(rect.exterior.coords)
    if len(xy) < 4:
        return False
    sides = sorted(math.dist(xy[i], xy[i + 1]) for i in range(2))
    depth, length = sides
    return depth <= BOARD_MAX_DEPTH_M and length >= BOARD_MIN_ASPECT * max(depth, 1e-9)


def needs_board_shape(cls: str, score: float, general_threshold: float) -> bool:
    """Whether a detection is a billboard kept only by its class's lower threshold."""
    return cls == "billboard" and score < general_threshold


def _same_kind(a: str, b: str) -> bool:
    """One class, or both structures."""
    return a == b or {a, b} <= {"building", "shed"}


def detection_fingerprint(card_path: Path | str | None) -> str:
    """What decides a raster's detections besides its pixels, as a hash.

    The model card (weights' hashes, thresholds, outline offsets) and the code that tiles,
    runs and merges. Cached detections are keyed on it with the imagery's hash.
    """
    from models import runtime

    h = hashlib.sha256()
    for f in (Path(card_path) if card_path else runtime.DEFAULT_CARD, Path(runtime.__file__),
              Path(__file__)):
        h.update(f.read_bytes())
    return h.hexdigest()


def iter_batches(tiles: list[Tile], n: int) -> Iterator[list[Tile]]:
    """Tiles in batches of ``n``."""
    for i in range(0, len(tiles), n):
        yield tiles[i:i + n]


def detect_raster(
    path: str,
    detector: Detector,
    cfg: TilingConfig,
    out_crs: CRS | str,
    progress: Callable[[int, int], None] | None = None,
    board_shape: bool = True,
) -> gpd.GeoDataFrame:
    """Detect structures in one georeferenced raster; returns polygons in ``out_crs``.

    Reads tile by tile (never the whole raster), skips nodata tiles, batches inference, and
    merges detections across tile seams. ``board_shape``: billboards scored below the card's
    general threshold are kept only if board-shaped (the survey leaves that to its named
    check ``board_shape``, so that the decision is recorded and can be switched off).
    """
    dets: list[TileDetection] = []
    # GDAL's block cache defaults to 5 % of RAM; a bounded cache keeps memory flat
    # whatever the raster's size (tiles are read once, in order)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), rasterio.open(path) as ds:
        tiles = plan_tiles(ds.width, ds.height, ds.transform, cfg)
        src_crs = ds.crs
        done = 0
        for batch in iter_batches(tiles, cfg.batch):
            imgs, kept = [], []
            for t in batch:
                img = read_tile(ds, t, cfg.imgsz)
                if img is not None:
                    imgs.append(img)
                    kept.append(t)
            for t, raw in zip(kept, detector.predict(imgs)):
                dets.extend(_to_dets(raw, t, cfg.min_area_m2))
            done += len(batch)
            if progress is not None:
                progress(done, len(tiles))
    names = detector.classes
    card = detector.card
    merged = [d for d in merge_detections(dets) if not board_shape
              or not needs_board_shape(names[d.cls], d.score, card.score_threshold)
              or looks_like_board(d.geom)]
    for d in merged:  # masks reach past the edge: pull the outline in (the card's calibration)
        if (off := card.outline_offset_m.get(names[d.cls], 0.0)) > 0:
            d.geom = _polygonal(d.geom.buffer(-off, join_style="mitre"))
    frame = gpd.GeoDataFrame(
        pd.DataFrame({
            "class": [names[d.cls] for d in merged],
            "score": [round(d.score, 4) for d in merged],
            "source": [path] * len(merged),
            "unconfirmed": [d.unconfirmed for d in merged],
            "cut": [d.cut for d in merged],  # touches an inner tile edge: possibly a piece
        }),
        geometry=[d.geom for d in merged],
        crs=src_crs,
    )
    frame = frame[~frame.geometry.is_empty & (frame.geometry.area >= cfg.min_area_m2)]
    if frame.crs is not None and CRS.from_user_input(out_crs) != CRS.from_user_input(frame.crs):
        frame = frame.to_crs(out_crs)
    return frame.reset_index(drop=True)


def empty_detections(crs: CRS | str) -> gpd.GeoDataFrame:
    """An empty detections frame with the schema's columns."""
    return gpd.GeoDataFrame(pd.DataFrame({"class": pd.Series(dtype=str),
                                          "score": pd.Series(dtype=float),
                                          "source": pd.Series(dtype=str),
                                          "unconfirmed": pd.Series(dtype=bool),
                                          "cut": pd.Series(dtype=bool)}),
                            geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def raster_coverage(path: str, out_crs: CRS | str) -> BaseGeometry:
    """Ground covered by a raster's valid pixels (its bounds, or its mask's outline), in out_crs."""
    with rasterio.open(path) as ds:
        scale = max(1, int(math.ceil(max(ds.width, ds.height) / 512)))
        shape_ = (max(1, ds.height // scale), max(1, ds.width // scale))
        m = ds.read_masks(1, out_shape=shape_, resampling=Resampling.nearest)
        t = ds.transform * Affine.scale(ds.width / shape_[1], ds.height / shape_[0])
        if m.all():
            geom: BaseGeometry = box(*ds.bounds)
        else:
            polys = [shape(g) for g, v in shapes((m > 0).astype(np.uint8), mask=m > 0,
                                                   transform=t) if v == 1]
            geom = shapely.union_all(polys) if polys else Polygon()
        src = ds.crs
    s = gpd.GeoSeries([geom], crs=src)
    if CRS.from_user_input(out_crs) != CRS.from_user_input(src):
        s = s.to_crs(out_crs)
    return s.iloc[0]


def agreed_outline(first: BaseGeometry, cls: str,
                   seen: Sequence[tuple[str, BaseGeometry]]) -> BaseGeometry | None:
    """The outline of a structure that a first view and a centred view agree on.

    ``seen``: the centred view's detections (class, outline). The one of ``cls`` that best
    matches ``first`` (IoU >= 0.5) is the structure; the centred view may also see a part of
    it (an extension) as a structure of its own, overlapping the rest: lying inside the first
    outline, that part agrees too (a neighbour the first outline bled onto does not overlap
    the structure). None when the centred view does not see the structure.
    """
    if (main := _best_match(first, cls, seen)) is None:
        return None
    parts = [main] + [g for c, g in seen if g is not main and _same_kind(c, cls)
                      and g.intersection(first).area >= 0.8 * g.area
                      and g.intersection(main).area >= 0.1 * g.area]
    agreed = _polygonal(first.intersection(shapely.union_all(parts)))
    return None if agreed.is_empty else agreed


#: what a coarse whole view adds to an outline must be this wide (thinner is its edge noise)
COARSE_MIN_WIDTH_M = 2.0


def filled_outline(first: BaseGeometry, cls: str, seen: Sequence[tuple[str, BaseGeometry]],
                   min_width_m: float = COARSE_MIN_WIDTH_M) -> BaseGeometry | None:
    """A stitched outline completed by a whole view of the structure at a coarser GSD.

    A structure larger than a tile is stitched from pieces, each trusted in its own tile's
    core; where the tile that trusts a part missed it (an extension of a pale material at
    one end of a warehouse), the outline has a notch. The coarse view (``seen``: class,
    outline) that best matches ``first`` (IoU >= 0.5) sees the whole: what it adds beyond
    ``first`` at least ``min_width_m`` wide is kept (thinner is the coarse mask's edge
    noise). It never cuts the finer first outline. None when it does not see the structure.
    """
    main = _best_match(first, cls, seen)
    return None if main is None else _filled(first, main, min_width_m)


def _best_match(first: BaseGeometry, cls: str,
                seen: Sequence[tuple[str, BaseGeometry]]) -> BaseGeometry | None:
    """The outline of class ``cls`` in ``seen`` that best matches ``first`` (IoU >= 0.5)."""
    same = [g for c, g in seen if c == cls and overlap_ratio(g, first) >= 0.5]
    return max(same, key=lambda g: overlap_ratio(g, first)) if same else None


def _filled(first: BaseGeometry, whole: BaseGeometry, min_width_m: float) -> BaseGeometry:
    """``first`` and what ``whole`` adds beyond it at least ``min_width_m`` wide."""
    beyond = without_slivers(whole.difference(first), min_width_m / 2).intersection(whole)
    if beyond.is_empty or beyond.area <= 0:
        return first
    return _polygonal(first.union(beyond).buffer(0))


def second_look(detections: gpd.GeoDataFrame, which: Sequence[bool], detector: Detector,
                cfg: TilingConfig, verify: Sequence[bool] | None = None,
                centre_on: Sequence[BaseGeometry | None] | None = None,
                max_coarse: int = 3, status: dict[int, str] | None = None
                ) -> gpd.GeoDataFrame:
    """Look again at chosen detections through a centred tile.

    ``which``: a mask can bleed past a roof into its predicted box; a centred view sees other
    context and does not bleed the same way, so the outline both views agree on is kept.
    Structures that the centred view does not find (IoU < 0.5) keep their first outline.

    ``verify``: detections whose existence is in doubt (a lone view that the neighbouring
    tiles, looking at the same ground, did not see). The centred view decides: what it does
    not find, from the lowest score any class needs, is dropped (a piece ``cut`` by its
    tile's edge must lie at least half inside what the centred view finds, a whole view must
    have its outline, IoU >= 0.5); what it finds takes its outline, the one view that saw the
    whole structure, and its class (unless another detection already has that outline).

    A structure larger than most of a tile (stitched from pieces, or a piece in doubt) is
    looked at through a centred window up to ``max_coarse`` times wider, read at a coarser GSD
    so that it is whole; that coarse outline only fills in what the first one lacks (see
    ``filled_outline``). Larger ones keep their first outline and are not verified. ``centre_on``
    centres a detection's tile on another geometry (the part of it in question).
    ``detections`` carry their ``source`` raster; geometries are in the frame's CRS.
    ``status``, when given, receives by row position what became of each row looked at:
    ``looked`` (kept), ``unseen`` (dropped: the centred view does not see it) or
    ``duplicate`` (dropped: the outline of another detection of its kind).
    """
    geoms = list(detections.geometry)
    classes = list(detections["class"])
    checks = list(verify) if verify is not None else [False] * len(geoms)
    cut = (list(detections["cut"].astype(bool)) if "cut" in detections
           else [True] * len(geoms))
    size_m = cfg.imgsz * cfg.model_gsd_m
    whole = (0.0, 0.0, float(cfg.imgsz), float(cfg.imgsz))
    looks: list[tuple[int, str, BaseGeometry, BaseGeometry, Any, int, Tile, np.ndarray]] = []
    with rgb_sources() as open_rgb:
        for i, (look, cls, src, geom) in enumerate(zip(which, detections["class"],
                                                        detections["source"],
                                                        detections.geometry)):
            x0, y0, x1, y1 = geom.bounds
            # how many tiles wide the view must be for the structure to fit whole
            scale = max(1, math.ceil(max(x1 - x0, y1 - y0) / (0.8 * size_m)))
            if not (look or checks[i]) or not src or geom.is_empty \
                    or scale > max_coarse \
                    or (ds := open_rgb(src)) is None:
                continue
            g = geom
            if detections.crs is not None and not same_crs(ds.crs, detections.crs):
                g = gpd.GeoSeries([geom], crs=detections.crs).to_crs(ds.crs)[0]
            c = g.centroid
            if centre_on is not None and (at := centre_on[i]) is not None and not at.is_empty:
                c = at.centroid if g is geom else gpd.GeoSeries(
                    [at], crs=detections.crs).to_crs(ds.crs)[0].centroid
            half = scale * size_m / 2
            win = rasterio.windows.from_bounds(c.x - half, c.y - half, c.x + half, c.y + half,
                                               ds.transform)
            try:
                win = win.round_offsets().round_lengths().intersection(
                    Window(0, 0, ds.width, ds.height))
            except rasterio.errors.WindowError:  # off this raster altogether
                continue
            t = rasterio.windows.transform(win, ds.transform) * Affine.scale(
                win.width / cfg.imgsz, win.height / cfg.imgsz)
            tile = Tile(win, t, (False, False, False, False), whole)
            img = read_tile(ds, tile, cfg.imgsz)
            if img is not None:
                looks.append((i, cls, g, geom, ds.crs, scale, tile, img))
    names = detector.classes
    card = detector.card
    dropped: set[int] = set()
    for k in range(0, len(looks), cfg.batch):
        chunk = looks[k:k + cfg.batch]
        # what a view already found, the centred view confirms from the lowest class threshold
        for (i, cls, g, geom, crs, scale, tile, _), raw in zip(chunk, detector.predict(
                [c[-1] for c in chunk], floor=card.min_score)):
            dets = [d for d in _to_dets(raw, tile, cfg.min_area_m2)
                    if checks[i] or d.score >= card.threshold(names[d.cls])]
            if checks[i]:
                # a piece cut by its tile's edge is part of what the centred view sees; a
                # whole view must have the outline the centred view sees. Its class is the
                # centred view's (building and shed blur around 100 m²).
                seen = [d for d in dets if _same_kind(names[d.cls], cls) and (
                    d.geom.intersection(g).area >= 0.5 * g.area if cut[i]
                    else overlap_ratio(d.geom, g) >= 0.5)]
                if not seen:
                    dropped.add(i)
                    if status is not None:
                        status[i] = "unseen"
                    continue
                best = max(seen, key=lambda d: d.score)  # the class it is surest of
                # a coarse view's outline is coarse: it only fills in what the piece lacks
                classes[i] = names[best.cls]
                agreed = (best.geom if scale == 1
                          else _filled(g, best.geom, COARSE_MIN_WIDTH_M))
            else:
                views = [(names[d.cls], d.geom) for d in dets]
                agreed = (agreed_outline(g, cls, views) if scale == 1
                          else filled_outline(g, cls, views))
                if agreed is None:
                    continue
            if g is not geom:
                agreed = gpd.GeoSeries([agreed], crs=crs).to_crs(detections.crs)[0]
            geoms[i] = agreed
    # a confirmed view that took its centred view's outline may now be a structure the
    # survey already has (seen whole by other tiles): one structure, one detection
    kept = [i for i in range(len(geoms)) if i not in dropped]
    for a, b in _same_outline_pairs([geoms[i] for i in kept], 0.5):
        i, o = kept[a], kept[b]
        if not _same_kind(classes[i], classes[o]) or i in dropped or o in dropped:
            continue
        dup = i if checks[i] else o if checks[o] else None
        if dup is not None:
            dropped.add(dup)
            if status is not None:
                status[dup] = "duplicate"
    if status is not None:
        for viewed in looks:
            status.setdefault(viewed[0], "looked")
    out = detections.set_geometry(gpd.GeoSeries(geoms, index=detections.index,
                                                crs=detections.crs))
    out["class"] = classes
    if "unconfirmed" in out:  # what the centred view saw is confirmed
        seen_again = [checks[i] and i not in dropped for i in range(len(out))]
        out["unconfirmed"] = out["unconfirmed"].astype(bool) & ~np.array(seen_again, bool)
    return out[[i not in dropped for i in range(len(out))]].reset_index(drop=True)


