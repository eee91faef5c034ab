"""Site outlines for people and GIS: the true corners, not the mask's pixel staircase.

A finding's outline is traced from a raster mask, so every slanted edge is a staircase of
pixel steps, and a site can carry slivers a few pixels wide. Squads and GIS programs need the
corners: :func:`clean_outline` removes slivers and small holes and simplifies the outline
(Douglas-Peucker) with the largest tolerance that keeps the area within ``max_area_change``.
The measured area (``area_m2``) is not changed; it comes from the detection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class OutlineConfig:
    """How outlines are cleaned.

    Attributes:
        tolerances_m: Douglas-Peucker tolerances tried (metres).
        max_area_change: the largest relative area change a simplification may make.
        sliver_share: parts and holes smaller than this share of the site are slivers and
            dropped (all of them together at most ``max_area_change`` of the site).

    """

    tolerances_m: tuple[float, ...] = (0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06,
                                       0.04)
    max_area_change: float = 0.008
    sliver_share: float = 0.01


def _without_slivers(geom: BaseGeometry, cfg: OutlineConfig) -> BaseGeometry:
    polys = [geom] if isinstance(geom, Polygon) else \
        [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    if not polys:
        return geom
    total = sum(p.area for p in polys)
    floor = cfg.sliver_share * total
    kept: list[Polygon] = []
    for p in sorted(polys, key=lambda p: -p.area):
        if p.area < floor and kept:
            continue
        holes = [h for h in p.interiors if Polygon(h).area >= floor]
        kept.append(Polygon(p.exterior, holes))
    out = kept[0] if len(kept) == 1 else MultiPolygon(kept)
    return out if abs(out.area - total) <= cfg.max_area_change * total / 2 else geom


def _midpoints(geom: BaseGeometry) -> BaseGeometry:
    """The polygon through the midpoints of each edge: a pixel staircase's steps cancel out."""
    def ring(coords: Any) -> np.ndarray:
        c = np.asarray(coords)[:-1, :2]
        return (c + np.roll(c, -1, axis=0)) / 2.0

    polys = [geom] if isinstance(geom, Polygon) else list(getattr(geom, "geoms", []))
    out = [Polygon(ring(p.exterior.coords), [ring(i.coords) for i in p.interiors])
           for p in polys if isinstance(p, Polygon)]
    return out[0] if len(out) == 1 else MultiPolygon(out)


def clean_outline(geom: BaseGeometry, cfg: OutlineConfig | None = None) -> BaseGeometry:
    """``geom`` without slivers, with the fewest corners its area allows (points pass as given).

    Douglas-Peucker at each tolerance, on the outline and on its edge midpoints (which
    straighten a staircase better); the candidate with the fewest vertices whose area is
    within ``max_area_change`` of the original wins.
    """
    cfg = cfg or OutlineConfig()
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        return geom
    base = _without_slivers(shapely.make_valid(geom) if not geom.is_valid else geom, cfg)
    if base.geom_type not in ("Polygon", "MultiPolygon"):
        return geom
    area = geom.area
    best, fewest = base, vertex_count(base)
    for start in (base, _midpoints(base)):
        for tol in cfg.tolerances_m:
            s = shapely.simplify(start, tol, preserve_topology=True)
            if s.is_empty or not s.is_valid or s.geom_type not in ("Polygon", "MultiPolygon"):
                continue
            n = vertex_count(s)
            if n < fewest and abs(s.area - area) <= cfg.max_area_change * area:
                best, fewest = s, n
    return best


def vertex_count(geom: BaseGeometry) -> int:
    """Vertices of a geometry's rings (each ring's closing vertex not counted twice)."""
    if geom is None or geom.is_empty:
        return 0
    polys = [geom] if isinstance(geom, Polygon) else list(getattr(geom, "geoms", [geom]))
    n = 0
    for p in polys:
        if isinstance(p, Polygon):
            n += sum(len(r.coords) - 1 for r in (p.exterior, *p.interiors))
        else:
            n += len(shapely.get_coordinates(p))
    return n
