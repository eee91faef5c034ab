"""Ground truth per epoch: every object with its class, the contract's category and area."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
from shapely import STRtree
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from geodata.synthetic.scene import Scene

#: A violating area smaller than this (m²) is footprint noise, not a violation.
MIN_VIOLATION_M2 = 1.0
#: A billboard is licensed by a permit whose place lies within this distance (m).
BILLBOARD_PERMIT_RADIUS_M = 2.0

TRUTH_COLUMNS = [
    "site_id",
    "object_class",
    "category",
    "violation_area_m2",
    "footprint_area_m2",
    "parcel_id",
    "district",
    "squad",
    "note",
    "height_m",
    "base_m",
]


@dataclass(frozen=True)
class Verdict:
    """The contract's verdict on one object: category (or ``legal``) and violating area."""

    category: str
    violation: BaseGeometry | None

    @property
    def area_m2(self) -> float:
        """Violating area in m² (0 when legal)."""
        return 0.0 if self.violation is None else float(self.violation.area)


class Rules:
    """The contract's violation rules over a scene's registry, on one survey date."""

    def __init__(self, scene: Scene, date: dt.date):
        self.date = date
        green = [p.geometry for p in scene.parcels if p.land_use == "green"]
        self.green = unary_union(green) if green else Polygon()
        self.permits = {
            kind: [p.geometry for p in scene.permits if p.kind == kind]
            for kind in ("building", "shed")
        }
        self.permit_trees = {k: STRtree(v) for k, v in self.permits.items()}
        self.boards = [
            b.geometry
            for b in scene.billboard_permits
            if b.valid_until is None or b.valid_until >= date
        ]
        self.board_tree = STRtree(self.boards)

    def judge(self, object_class: str, footprint: Polygon) -> Verdict:
        """Classify one object by the contract's rules.

        Green encroachment wins over illegal construction (one site, one category);
        billboards are judged only on their licence.
        """
        if object_class == "billboard":
            near = self.board_tree.query(footprint, predicate="dwithin",
                                         distance=BILLBOARD_PERMIT_RADIUS_M)
            if len(near):
                return Verdict("legal", None)
            return Verdict("illegal_billboard", footprint)
        in_green = footprint.intersection(self.green)
        if in_green.area >= MIN_VIOLATION_M2:
            return Verdict("green_encroachment", in_green)
        if object_class == "cleared_ground":
            return Verdict("legal", None)
        kind = "building" if object_class == "building" else "shed"
        idx = self.permit_trees[kind].query(footprint, predicate="intersects")
        covered = unary_union([self.permits[kind][i] for i in idx]) if len(idx) else Polygon()
        excess = footprint.difference(covered)
        if excess.area >= MIN_VIOLATION_M2:
            return Verdict("illegal_construction", excess)
        return Verdict("legal", None)


def truth_frames(scene: Scene, epoch: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Objects and violations of ``epoch`` as GeoDataFrames in the scene's CRS.

    Returns:
        ``objects``: every detectable object present (footprint geometry);
        ``violations``: one row per violating object, geometry = the violating area.

    """
    rules = Rules(scene, scene.dates[epoch - 1])
    squads = [(j.geometry, j.district, j.squad) for j in scene.jurisdictions]
    objects, violations = [], []
    for t in scene.things:
        fp = t.footprint(epoch)
        if fp is None:
            continue
        verdict = rules.judge(t.object_class, fp)
        c = fp.representative_point()
        district, squad = next(((d, s) for g, d, s in squads if g.covers(c)), ("", ""))
        row = {
            "site_id": t.site_id,
            "object_class": t.object_class,
            "category": verdict.category,
            "violation_area_m2": round(verdict.area_m2, 3),
            "footprint_area_m2": round(float(fp.area), 3),
            "parcel_id": t.parcel_id,
            "district": district,
            "squad": squad,
            "note": t.note,
            "height_m": round(t.height_m, 2),
            "base_m": round(t.base_m, 2),
        }
        objects.append({**row, "geometry": fp})
        if verdict.violation is not None:
            violations.append({**row, "geometry": verdict.violation})
    crs = scene.config.crs
    obj = gpd.GeoDataFrame(pd.DataFrame(objects, columns=[*TRUTH_COLUMNS, "geometry"]),
                           geometry="geometry", crs=crs)
    vio = gpd.GeoDataFrame(pd.DataFrame(violations, columns=[*TRUTH_COLUMNS, "geometry"]),
                           geometry="geometry", crs=crs)
    return obj, vio
