"""Detections diffed against the registry: the contract's three violation categories."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
import shapely.affinity
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.features import geometry_mask, shapes
from rasterio.windows import Window, from_bounds
from shapely.geometry import Polygon, shape
from shapely.geometry.base import BaseGeometry

from geodata.crs import same_crs
from geodata.raster import rgb_sources
from geodata.registry import Registry
from pipeline.checks import entry, extend, merge_trails, validate_off
from pipeline.groups import connected_groups

VIOLATION_COLUMNS = [
    "category", "object_class", "area_m2", "confidence", "parcel_id", "district", "squad",
    "source", "checks", "geometry",
]


#: The checks a survey runs without, unless switched on (``[checks] shadow = true``): the
#: cross-world ablation found no held-out accuracy they add (docs/checks.md).
DEFAULT_OFF = frozenset({"shadow", "roof_colour"})


@dataclass(frozen=True)
class DiffConfig:
    """Tolerances of the registry diff.

    Attributes:
        footprint_tolerance_m: detected outlines wander this much around a permitted
            footprint; excess thinner than this is footprint noise, not an extension.
        min_violation_m2: violating areas below this are not reported.
        extension_min_depth_m: beyond a permitted footprint, excess shallower than this is
            outline noise, not an annex (an extension is at least a room deep).
        min_extension_m2: an extension of a permitted structure smaller than this is not
            reported.
        min_shadow_ratio: a structure mostly off permitted footprints, or a shed on a
            permitted roof, must cast a shadow at least this strong relative to the
            registered buildings' shadows in the same image; one that does not is a flat
            surface (water, a soil or asphalt lot, paving, the pale scar a removed rooftop
            shed leaves).
        max_shadow_ratio: ... and at most this strong: ground far darker on that side than
            the buildings' shadows is water or asphalt beside a flat surface, not a shadow.
        shadow_unreadable_ratio: a shadow only darkens; below this (the shadow side clearly
            brighter than the sunlit sides: a car or a lawn edge beside a shed) the ground
            differs around the structure and the test cannot tell. A small structure (below
            ``shadow_unreadable_m2``) the model saw consistently is then kept; one its
            neighbouring tiles did not see is not, nor a large one (a car cannot hide the
            shadow along a long side).
        min_ground_contrast: the excess of an extension must differ from the open ground
            beside it by at least this colour difference (ΔE); an excess that looks like
            that ground is an outline spilling onto it. Off (0) by default: the test was made
            for the first model, whose masks bled into the yard; with the fine-tuned model it
            caught no spill in 36 surveys and dropped five real extensions of pale material
            on pale paving (ΔE 4.6-8.3). Set 12 for a model whose outlines spill.
        shadow_check_m2: structures smaller than this are not held to the shadow test.
        min_shadow_contrast: a shadow side less different than this (ΔE) from the structure
            itself is more of its surface, not a shadow (real structures: 10 and more).
        shadow_veto_below: the shadow test drops only detections the model scored below this.
            A low structure's shadow is short and easily lost (in a neighbour's shadow, off
            the test's eight directions): a weak physical check must not overrule a sure
            model. The flat surfaces the model takes for roofs score lower (a paved lot 0.74,
            against 0.92-0.96 for the sheds the test wrongly dropped).
        shadow_reach_m: how far a building's shadow reaches; a structure in a building's
            shadow (one this near towards the sun) cannot show its own and is not tested.
        min_roof_contrast: a shed detected on a permitted building's roof must differ from
            the roof around it by at least this colour difference (CIE76 ΔE), or cast a
            shadow on it; one that does neither is a part of the roof (a corrugated warehouse
            roof looks like a shed).
        billboard_permit_radius_m: a licence counts for a board within this distance.
        min_green_m2: green-space loss below this is not reported.
        exg_threshold: excess-green index ((2G - R - B) / (R + G + B)) below which a pixel
            in a green parcel counts as not vegetated.
        exg_relative: ... or below this share of the median index of the image's green
            parcels, whichever is higher (a green colour cast raises every pixel's index).
        dark_threshold: pixels darker than this (mean DN) are shadow, not cleared ground.
        shadow_relative: ... and so are pixels darker than this share of the median brightness
            of the image's green parcels (a tree's shadow on sunlit grass).
        vegetation_gsd_m: resolution at which green parcels are scanned for cleared ground.
        max_vegetation_share: a structure whose pixels are vegetation (excess-green index at
            least ``vegetation_exg``) over this share of its outline is a lawn, a field or a
            tree crown the model took for a roof (check ``vegetation_cover``). A roof painted
            green is taken for vegetation too: raise the share for a district of green roofs.
        vegetation_exg: the excess-green index from which a pixel counts as vegetation there.
        off: the named checks switched off (``pipeline.checks.CHECKS``), to measure what each
            one is worth or to stop one that misleads on some imagery. By default
            ``DEFAULT_OFF``: ``shadow`` and ``roof_colour`` changed nothing on six held-out
            worlds of the generator they were tuned on and did harm on worlds of an
            independent one (docs/checks.md); they stay available for imagery where they help.

    """

    footprint_tolerance_m: float = 1.0
    min_violation_m2: float = 3.0
    billboard_permit_radius_m: float = 2.0
    min_green_m2: float = 4.0
    extension_min_depth_m: float = 2.0
    min_extension_m2: float = 10.0
    min_roof_contrast: float = 6.0
    min_shadow_ratio: float = 0.55
    max_shadow_ratio: float = 2.0
    shadow_unreadable_ratio: float = -0.25
    shadow_unreadable_m2: float = 100.0
    min_ground_contrast: float = 0.0
    shadow_check_m2: float = 8.0
    min_shadow_contrast: float = 5.0
    shadow_veto_below: float = 0.9
    shadow_reach_m: float = 30.0
    exg_threshold: float = 0.08
    exg_relative: float = 0.35
    dark_threshold: float = 45.0
    shadow_relative: float = 0.7
    vegetation_gsd_m: float = 0.2
    max_vegetation_share: float = 0.75
    vegetation_exg: float = 0.1
    off: frozenset[str] = DEFAULT_OFF

    def __post_init__(self) -> None:
        object.__setattr__(self, "off", validate_off(self.off))

    def on(self, check: str) -> bool:
        """Whether the named check runs."""
        return check not in self.off


def _empty(crs: object) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame({c: [] for c in VIOLATION_COLUMNS[:-1]}),
                            geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def areal(g: BaseGeometry) -> BaseGeometry:
    """The polygons of a geometry (a collection's lines and points dropped)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def without_slivers(g: BaseGeometry, tol: float) -> BaseGeometry:
    """Remove slivers thinner than ``2 * tol`` by a morphological opening."""
    if g.is_empty:
        return g
    return g.buffer(-tol, join_style="mitre").buffer(tol, join_style="mitre")


def _near_structures(built: gpd.GeoSeries, area: BaseGeometry) -> BaseGeometry | None:
    """The structures (already counted) within 1 m of ``area``, with a 0.5 m margin."""
    near = built.iloc[built.sindex.query(area.buffer(1.0), predicate="intersects")]
    return shapely.union_all(near.buffer(0.5).to_numpy()) if len(near) else None


def cleared_ground(
    rasters: list[str], registry: Registry, structures: Sequence[BaseGeometry] | None,
    cfg: DiffConfig
) -> gpd.GeoDataFrame:
    """Unvegetated ground in green parcels, found from the imagery (excess-green index).

    Structures already detected (``structures``, in the registry's CRS) are left out (one
    site, one category), and so are dark pixels (shadows). Returns polygons with
    ``object_class = cleared_ground``.
    """
    green_reg = registry.parcels[registry.parcels.land_use == "green"]
    found: list[BaseGeometry] = []
    srcs: list[str] = []
    scores: list[float] = []
    built = gpd.GeoSeries(list(structures or ()), crs=registry.crs)
    built = built[~built.is_empty]
    for path in rasters:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                continue
            ds_crs = CRS.from_user_input(ds.crs)
            green = green_reg.to_crs(ds_crs) if ds_crs != registry.crs else green_reg
            built_ds = built.to_crs(ds_crs) if ds_crs != registry.crs else built
            n_before = len(found)
            bounds = shapely.box(*ds.bounds)
            # (parcel area, exg, usable pixels, transform, brightness), thresholded together
            views: list[tuple[BaseGeometry, np.ndarray, np.ndarray, Affine, np.ndarray]] = []
            for parcel in green.geometry:
                if not parcel.intersects(bounds):
                    continue
                area = parcel.intersection(bounds)
                win = from_bounds(*area.bounds, ds.transform).round_offsets().round_lengths()
                if win.width < 2 or win.height < 2:
                    continue
                f = max(1.0, cfg.vegetation_gsd_m / abs(ds.transform.a))
                shape_ = (max(2, int(win.height / f)), max(2, int(win.width / f)))
                data = ds.read((1, 2, 3), window=win, out_shape=(3, *shape_),
                               resampling=Resampling.average).astype(np.float32)
                valid = ds.read_masks(1, window=win, out_shape=shape_) > 0
                t = ds.window_transform(win) * rasterio.Affine.scale(
                    win.width / shape_[1], win.height / shape_[0])
                r, g, b = data
                total = r + g + b + 1e-3
                exg = (2 * g - r - b) / total
                inside = valid & ~geometry_mask([area], shape_, t)
                views.append((area, exg, inside, t, total / 3))
            # shadows are dark relative to the light of this image's green parcels
            lit = [v[4][v[2]] for v in views]
            light = float(np.median(np.concatenate(lit))) if sum(map(len, lit)) else 0.0
            dark = max(cfg.dark_threshold, cfg.shadow_relative * light)
            views = [(a, e, m & (b > dark), t, b) for a, e, m, t, b in views]
            # a colour cast (white balance, season) shifts the index: vegetation in this
            # image sets the bar, never below the configured one
            sample = [v[1][v[2]] for v in views]
            veg = float(np.median(np.concatenate(sample))) if sum(map(len, sample)) else 0.0
            threshold = max(cfg.exg_threshold, cfg.exg_relative * veg)
            for area, exg, usable, t, _ in views:
                shape_ = exg.shape
                bare = (exg < threshold) & usable
                if (near := _near_structures(built_ds, area)) is not None:
                    bare &= geometry_mask([near.intersection(area.buffer(1.0))], shape_, t)
                if bare.sum() * abs(t.a * t.e) < cfg.min_green_m2:
                    continue
                for geom, val in shapes(bare.astype(np.uint8), mask=bare, transform=t):
                    if val != 1:
                        continue
                    poly = without_slivers(shape(geom), cfg.vegetation_gsd_m).intersection(area)
                    if poly.area >= cfg.min_green_m2:
                        found.append(poly)
                        srcs.append(path)
                        scores.append(float(np.clip(1 - exg[usable].mean(), 0, 1)))
            if ds_crs != registry.crs and len(found) > n_before:
                back = gpd.GeoSeries(found[n_before:], crs=ds_crs).to_crs(registry.crs)
                found[n_before:] = list(back)
    if len(set(srcs)) > 1:  # overlapping rasters saw the same ground: one polygon per site
        union = shapely.union_all(found)
        parts = [g for g in getattr(union, "geoms", [union]) if g.area >= cfg.min_green_m2]
        tree = shapely.STRtree(found)  # the first polygon that saw each part owns it
        owner = [int(tree.query(g, predicate="intersects").min()) for g in parts]
        found, srcs, scores = parts, [srcs[i] for i in owner], [scores[i] for i in owner]
    frame = gpd.GeoDataFrame(
        pd.DataFrame({"class": ["cleared_ground"] * len(found), "score": scores,
                      "source": srcs}),
        geometry=gpd.GeoSeries(found, crs=registry.parcels.crs), crs=registry.parcels.crs)
    return frame


def vegetation_share(detections: gpd.GeoDataFrame, cfg: DiffConfig) -> np.ndarray:
    """The share of each structure's pixels that are vegetation (excess-green index).

    Read from each detection's own source raster at ``vegetation_gsd_m``; NaN for boards,
    cleared ground, and where the source cannot be read.
    """
    out = np.full(len(detections), np.nan)
    with rgb_sources() as open_rgb:
        for i, (cls, src, geom) in enumerate(zip(detections["class"], detections["source"],
                                                 detections.geometry)):
            if cls not in ("building", "shed") or not src or geom.is_empty \
                    or (ds := open_rgb(src)) is None:
                continue
            g = geom if detections.crs is None or same_crs(ds.crs, detections.crs) else \
                gpd.GeoSeries([geom], crs=detections.crs).to_crs(ds.crs)[0]
            try:  # the part of the raster under the structure (a boundless read costs a VRT)
                win = from_bounds(*g.bounds, ds.transform).round_offsets().round_lengths() \
                    .intersection(Window(0, 0, ds.width, ds.height))
            except rasterio.errors.WindowError:
                continue
            f = max(1.0, cfg.vegetation_gsd_m / abs(ds.transform.a))
            shape_ = (max(2, int(win.height / f)), max(2, int(win.width / f)))
            try:
                rgb = ds.read((1, 2, 3), window=win, out_shape=(3, *shape_),
                              resampling=Resampling.average).astype(np.float32)
            except rasterio.errors.RasterioError:
                continue
            t = ds.window_transform(win) * rasterio.Affine.scale(win.width / shape_[1],
                                                                 win.height / shape_[0])
            inside = ~geometry_mask([g], shape_, t) & (rgb.sum(axis=0) > 0)
            if inside.sum() < 4:
                continue
            r, gr, b = rgb
            exg = (2 * gr - r - b) / (r + gr + b + 1e-3)
            out[i] = float((exg[inside] >= cfg.vegetation_exg).mean())
    return out


def _lab(rgb: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    return lab


_DIRECTIONS = [(math.cos(a), math.sin(a)) for a in np.radians(np.arange(0, 360, 45))]


def _side_brightness(ds: rasterio.io.DatasetReader, poly: BaseGeometry,
                     dirs: list[tuple[float, float]], band_m: float = 1.0,
                     res_m: float = 0.2) -> np.ndarray:
    """Mean brightness of the ground just beside ``poly`` on each side in ``dirs``."""
    win = from_bounds(*poly.buffer(band_m + 1).bounds, ds.transform)
    win = win.round_offsets().round_lengths()
    f = max(1.0, res_m / abs(ds.transform.a))
    shape_ = (max(2, int(win.height / f)), max(2, int(win.width / f)))
    rgb = ds.read((1, 2, 3), window=win, out_shape=(3, *shape_),
                  resampling=Resampling.average, boundless=True).astype(np.float32)
    light = rgb.mean(axis=0)
    t = ds.window_transform(win) * rasterio.Affine.scale(win.width / shape_[1],
                                                         win.height / shape_[0])
    core = poly.buffer(0.3)
    out = np.full(len(dirs), np.nan)
    for k, (dx, dy) in enumerate(dirs):
        side = shapely.affinity.translate(poly, dx * band_m, dy * band_m).difference(core)
        if side.is_empty:
            continue
        m = ~geometry_mask([side], shape_, t)
        if m.sum() > 3:
            out[k] = float(light[m].mean())
    return out


def shadow_evidence(detections: gpd.GeoDataFrame, registry: Registry,
                    cfg: DiffConfig, also: Sequence[bool] | None = None) -> np.ndarray:
    """How strongly each unpermitted structure casts a shadow, relative to registered ones.

    1 means like the registered buildings in the same image, 0 no shadow, NaN not tested.
    The shadow side is the one where the ground beside the registered buildings is darkest;
    a structure is tested by the darkness of that side against the opposite one. Images with
    no registered building in view, or no shadows to speak of (overcast, noon), are not
    tested; neither are structures smaller than ``shadow_check_m2``, nor those touching a
    permitted footprint unless they are large (200 m²) and lie mostly off permits, nor those
    standing in a building's shadow (the ground on their shadow side and on their sunlit
    sides nearer the buildings' shadow than their sunlit light, and a building within
    ``shadow_reach_m`` towards the sun): a shadow cannot fall on shade. A shadow side of the
    structure's own colour (ΔE below ``min_shadow_contrast``) is more of the same surface,
    which the outline stopped inside: 0. The detections ``also`` marks are tested as well (a
    shed on a permitted roof).
    """
    out = np.full(len(detections), np.nan)
    permits = registry.permitted_structures
    if len(permits) == 0 or len(detections) == 0:
        return out
    any_permit = registry.permitted_union
    buildings = permits[permits.kind == "building"]
    todo: dict[str, list[int]] = {}
    for i, (cls, src, geom) in enumerate(zip(detections["class"], detections["source"],
                                             detections.geometry)):
        if cls not in ("building", "shed") or not src or geom.area < cfg.shadow_check_m2:
            continue
        # off every permit; or a large blob mostly off them that merely touches one (a lot
        # around a permitted shed), while an annex beside its permitted host is not tested
        if (also is not None and also[i]) or not geom.intersects(any_permit) or (
                geom.area >= 200.0 and geom.intersection(any_permit).area < 0.5 * geom.area):
            todo.setdefault(str(src), []).append(i)
    # what can shade a structure: registered buildings and the buildings seen
    shading = pd.concat([buildings.geometry, detections.geometry[
        (detections["class"] == "building").to_numpy()]], ignore_index=True)
    with rgb_sources() as open_rgb:
        for src, idx in todo.items():
            if (ds := open_rgb(src)) is None:
                continue
            view = _in_crs(buildings.geometry, registry, ds)
            seen = view[view.intersects(shapely.box(*ds.bounds))]
            seen = seen[seen.area >= cfg.shadow_check_m2].iloc[:40]
            if len(seen) < 3:
                continue
            light = np.array([_side_brightness(ds, p, _DIRECTIONS) for p in seen])
            ref = light / np.nanmean(light, axis=1, keepdims=True)
            k = int(np.nanargmin(np.nanmean(ref, axis=0)))
            # the sunlit sides: the three facing away from the shadow (a median, so one side
            # in a neighbour's shadow does not decide)
            sunlit = [(k + 3) % 8, (k + 4) % 8, (k + 5) % 8]
            typical = float(np.nanmedian(1 - ref[:, k] / np.nanmedian(ref[:, sunlit], 1)))
            if not typical > 0.15:
                continue
            # half-way between the buildings' shadow sides and their sunlit sides
            shade = 0.5 * (float(np.nanmedian(light[:, k]))
                           + float(np.nanmedian(np.nanmedian(light[:, sunlit], 1))))
            sides = [_DIRECTIONS[j] for j in (k, *sunlit)]
            sun = (-_DIRECTIONS[k][0] * cfg.shadow_reach_m, -_DIRECTIONS[k][1] * cfg.shadow_reach_m)
            casters = _in_crs(shading, registry, ds)
            for i, g in zip(idx, _in_crs(detections.geometry.iloc[idx], registry, ds)):
                b = _side_brightness(ds, g, sides)
                lit = float(np.nanmedian(b[1:]))
                if max(float(b[0]), lit) < shade and _shaded_by(g, casters, sun):
                    continue  # in a building's shadow all round: not tested
                if not (lit > 0 and b[0] > 0):
                    continue  # a side lies off the imagery (read as 0): not tested
                out[i] = float((1 - b[0] / lit) / typical)
                # a "shadow" of the structure's own colour is more of the same surface: the
                # outline stopped inside a larger one (part of a painted court), no shadow
                band = shapely.affinity.translate(g, *_DIRECTIONS[k]).difference(g.buffer(0.3))
                if _median_lab_difference(ds, g.buffer(-0.5), band)[0] < cfg.min_shadow_contrast:
                    out[i] = 0.0
    return out


def _shaded_by(geom: BaseGeometry, casters: gpd.GeoSeries, sun: tuple[float, float]) -> bool:
    """Whether a building other than ``geom`` stands between it and the sun (within reach)."""
    reach = shapely.convex_hull(shapely.union(
        geom, shapely.affinity.translate(geom, *sun))).difference(geom.buffer(0.5))
    for j in casters.sindex.query(reach, predicate="intersects"):
        other = casters.iloc[int(j)]
        if not other.contains(geom.representative_point()) and \
                other.intersection(reach).area >= 1.0:
            return True
    return False


def _in_crs(geoms: gpd.GeoSeries, registry: Registry,
            ds: rasterio.io.DatasetReader) -> gpd.GeoSeries:
    """Registry-CRS geometries in the raster's CRS."""
    if same_crs(ds.crs, registry.crs):
        return geoms
    return gpd.GeoSeries(geoms, crs=registry.crs).to_crs(ds.crs)


def _median_lab_difference(ds: rasterio.io.DatasetReader, inner: BaseGeometry,
                           *outers: BaseGeometry) -> list[float]:
    """ΔE (CIE76) between the median colour of a region and of each nearby region.

    One read of the raster covers them all. NaN where a region holds too few pixels (or is
    empty).
    """
    win = from_bounds(*shapely.union_all([inner, *outers]).buffer(0.5).bounds, ds.transform)
    win = win.round_offsets().round_lengths()
    rgb = ds.read((1, 2, 3), window=win, boundless=True).transpose(1, 2, 0)
    t = ds.window_transform(win)
    lab = _lab(rgb)
    m_in = ~geometry_mask([inner], rgb.shape[:2], t)
    if m_in.sum() < 4:
        return [math.nan] * len(outers)
    median_in = np.median(lab[m_in], axis=0)
    out = []
    for outer in outers:
        m_out = None if outer.is_empty else ~geometry_mask([outer], rgb.shape[:2], t)
        out.append(math.nan if m_out is None or m_out.sum() < 4 else
                   float(np.linalg.norm(median_in - np.median(lab[m_out], axis=0))))
    return out


def extension_ground_contrast(violations: gpd.GeoDataFrame, detections: gpd.GeoDataFrame,
                              registry: Registry) -> np.ndarray:
    """How each extension's excess differs in colour from the open ground just beyond it.

    Extensions are illegal construction touching a permitted footprint from outside; NaN for
    the rest (a rooftop shed lies on its permitted roof), where no open ground lies beside,
    and where the excess looks more like the permitted roof it extends than like that ground
    (the roof goes on: an extension in the host's material, whatever the ground's colour).
    """
    out = np.full(len(violations), np.nan)
    permits = registry.permitted_structures
    if len(violations) == 0 or len(permits) == 0:
        return out
    others = gpd.GeoSeries([*permits.geometry, *detections.geometry], crs=registry.crs)
    with rgb_sources() as open_rgb:
        for i, (cat, src, geom) in enumerate(zip(violations["category"], violations["source"],
                                                 violations.geometry)):
            if cat != "illegal_construction" or not src or not geom.buffer(0.5).intersects(
                    registry.permitted_union):
                continue
            if geom.intersection(registry.permitted_union).area > 0.5 * geom.area:
                continue  # on a permitted roof (a rooftop shed), not an excess beyond it
            near = geom.buffer(3.0)
            taken = shapely.union_all(others.iloc[others.sindex.query(near, "intersects")].values)
            ground = near.difference(taken.buffer(0.5))
            inner = geom.buffer(-0.4)
            if ground.area < 1.0 or inner.is_empty or (ds := open_rgb(src)) is None:
                continue
            # the roof it extends, as near as the ground looked at
            host = shapely.union_all(permits.geometry.iloc[
                permits.sindex.query(geom.buffer(0.5), "intersects")].values).buffer(
                -0.4).intersection(near)
            inner, ground, host = _in_crs(gpd.GeoSeries([inner, ground, host]), registry, ds)
            to_ground, to_roof = _median_lab_difference(ds, inner, ground, host)
            if to_roof < to_ground:
                continue  # the roof goes on
            out[i] = to_ground
    return out


def roof_contrast(detections: gpd.GeoDataFrame, registry: Registry) -> np.ndarray:
    """Colour difference (ΔE) between each shed on a permitted roof and the roof around it.

    A shed counts as on a roof when half its area lies in a permitted building. Pixels are
    read from the detection's own source raster; NaN where the test does not apply or the
    source cannot be read (the shed is then judged as a shed).
    """
    out = np.full(len(detections), np.nan)
    permits = registry.permitted_structures
    roofs = permits[permits.kind == "building"].geometry.reset_index(drop=True)
    if len(roofs) == 0 or len(detections) == 0:
        return out
    with rgb_sources() as open_rgb:
        for i, (cls, src, geom) in enumerate(zip(detections["class"], detections["source"],
                                                 detections.geometry)):
            if cls != "shed" or not src or geom.is_empty:
                continue
            idx = roofs.sindex.query(geom, predicate="intersects")
            cover = roofs.iloc[idx].intersection(geom).area.to_numpy()
            if not len(idx) or cover.sum() < 0.5 * geom.area or (ds := open_rgb(src)) is None:
                continue
            host = roofs.iloc[idx[int(np.argmax(cover))]]
            g, h = _in_crs(gpd.GeoSeries([geom, host]), registry, ds)
            ring = h.intersection(g.buffer(3.0)).difference(g.buffer(0.5))
            inner = g.buffer(-0.3)
            if ring.area >= 1.0 and not inner.is_empty:
                out[i] = _median_lab_difference(ds, inner, ring)[0]
    return out


def extension_candidates(detections: gpd.GeoDataFrame, registry: Registry,
                         cfg: DiffConfig) -> list[bool]:
    """Structures on a permitted footprint that reach beyond it by an extension's area.

    Their outline decides a violation: they are worth a second look.
    """
    if len(registry.permitted_structures) == 0 or len(detections) == 0:
        return [False] * len(detections)
    out = []
    for cls, geom in zip(detections["class"], detections.geometry):
        extends = cls in ("building", "shed") and geom.intersects(registry.permitted_union)
        out.append(extends and extension_excess(geom, registry, cls, cfg, cfg.min_extension_m2).area
                   >= cfg.min_extension_m2)
    return out


def extension_excess(geom: BaseGeometry, registry: Registry, cls: str, cfg: DiffConfig,
                     at_least: float = 0.0) -> BaseGeometry:
    """What of a structure lies beyond the permits of its kind, less outline noise.

    Beyond a permitted structure only an annex at least ``extension_min_depth_m`` deep
    counts; elsewhere slivers thinner than ``footprint_tolerance_m`` are removed. When the
    plain difference is already smaller than ``at_least`` it is returned as it is.
    """
    permitted = registry.permitted_by_kind[cls]
    # only the area beyond the permits: a difference can leave lines and points where edges
    # touch, and GEOS cannot intersect such a mixed collection with a polygon
    raw = areal(geom.difference(permitted)) if not permitted.is_empty else geom
    if raw.area < at_least:
        return raw
    tol = cfg.footprint_tolerance_m
    if geom.intersects(registry.permitted_union):
        tol = max(tol, cfg.extension_min_depth_m)
    return raw.intersection(without_slivers(raw, tol / 2).buffer(tol))


def _permit_overlap(geom: BaseGeometry, registry: Registry, kind: str) -> tuple[float, float]:
    """How well an outline fits the permitted structures of one kind.

    The best IoU with one of their footprints, and the largest share of the outline inside one.
    """
    permits = registry.permitted_structures
    best_iou = best_inside = 0.0
    if len(permits) == 0 or geom.is_empty or geom.area <= 0:
        return best_iou, best_inside
    for j in permits.sindex.query(geom, predicate="intersects"):
        if permits["kind"].iloc[j] == kind:
            footprint = permits.geometry.iloc[j]
            best_iou = max(best_iou, overlap_ratio(geom, footprint))
            best_inside = max(best_inside, geom.intersection(footprint).area / geom.area)
    return best_iou, best_inside


def locate(geom: BaseGeometry, registry: Registry) -> tuple[str | None, str, str]:
    """The parcel (most overlapped), district and squad (jurisdiction) of a site."""
    parcels = registry.parcels
    idx = np.sort(parcels.sindex.query(geom, predicate="intersects"))
    parcel_id = None
    district = ""
    if len(idx):
        overlaps = shapely.area(shapely.intersection(
            np.asarray(parcels.geometry.array[idx]), geom))
        best = int(idx[int(np.argmax(overlaps))])
        parcel_id = str(parcels["parcel_id"].iat[best])
        district = str(parcels["district"].iat[best])
    jur = registry.jurisdictions
    pt = geom.representative_point()
    covering: np.ndarray = np.sort(jur.sindex.query(pt, predicate="covered_by")) \
        if len(jur) else np.zeros(0, int)
    hit = jur.iloc[[int(covering[0])]] if len(covering) else jur.iloc[0:0]
    if len(hit) == 0:
        hit = jur.iloc[[int(jur.distance(pt).argmin())]] if len(jur) else hit
    squad = str(hit.iloc[0]["squad"]) if len(hit) else ""
    if len(hit) and not district:
        district = str(hit.iloc[0]["district"])
    return parcel_id, district, squad


def diff_registry(
    detections: gpd.GeoDataFrame,
    registry: Registry,
    survey_date: dt.date,
    cfg: DiffConfig | None = None,
    outcome: DiffOutcome | None = None,
) -> gpd.GeoDataFrame:
    """Turn detections (classes building, shed, billboard, cleared_ground) into violations.

    - green_encroachment: anything built, paved or cleared inside a green parcel; the area
      is what lies inside the green parcel (wins over illegal construction).
    - illegal_construction: a building or shed beyond the permits of its kind; the area is
      the detected footprint outside the permits, after slivers thinner than the footprint
      tolerance are removed (check ``extension_depth``).
    - illegal_billboard: no licence valid on the survey date within the permit radius (a
      board smaller than ``min_violation_m2`` is not reported either).

    Each violation's ``checks`` is the trail of the checks that decided it: the detection's
    own (a ``checks`` column, when the detections carry one) and those applied here
    (``roof_colour``, ``permit_fit``, ``extension_depth``, ``merge_sites``). ``outcome``, when
    given, receives each detection's trail by its ``det_id`` (or row position) and, per
    violation returned, the detections it came from.
    """
    cfg = cfg or DiffConfig()
    crs = registry.parcels.crs
    if len(detections) == 0:
        return _empty(crs)
    green = shapely.union_all(registry.parcels[registry.parcels.land_use == "green"].geometry)
    boards = registry.billboard_permits
    valid_boards = boards[boards.valid_until.map(lambda d: d is None or d >= survey_date)]
    board_union = shapely.union_all(valid_boards.geometry) if len(valid_boards) else Polygon()
    n = len(detections)
    contrast = (detections["roof_contrast"].to_numpy() if "roof_contrast" in detections
                else np.full(n, np.nan))
    trails = [str(t) if isinstance(t, str) else "" for t in detections["checks"]] \
        if "checks" in detections else [""] * n
    ids = [int(i) for i in detections["det_id"]] if "det_id" in detections else list(range(n))
    rows = []
    for k, (cls, score, source, geom, dE) in enumerate(zip(
            detections["class"], detections["score"], detections["source"],
            detections.geometry, contrast)):
        trail = trails[k]
        if cls == "shed" and cfg.on("roof_colour") and dE < cfg.min_roof_contrast:
            # the same colour as the roof it lies on: a part of that roof
            cls, trail = "building", extend(trail, entry(
                "roof_colour", "relabel", "roof_alike", de=f"{dE:.1f}"))
        elif cls == "shed" and cfg.on("permit_fit") and (
                iou := _permit_overlap(geom, registry, "building")[0]) >= 0.7:
            # the outline of a permitted building (the two structure classes blur around
            # 100 m²): that building (a rooftop shed covers a part of its roof, far below 0.7)
            cls, trail = "building", extend(trail, entry(
                "permit_fit", "relabel", "permit_outline", **{"from": "shed"}, to="building",
                iou=f"{iou:.2f}"))
        elif cls == "building" and cfg.on("permit_fit") and (
                inside := _permit_overlap(geom, registry, "shed")[1]) >= 0.8:
            # the whole or a part of a permitted shed, seen as a building
            cls, trail = "shed", extend(trail, entry(
                "permit_fit", "relabel", "in_permit", **{"from": "building"}, to="shed",
                share=f"{inside:.0%}"))
        category = None
        vgeom: BaseGeometry = Polygon()
        if cls == "billboard":
            if geom.area >= cfg.min_violation_m2 and (
                    board_union.is_empty
                    or geom.distance(board_union) > cfg.billboard_permit_radius_m):
                category, vgeom = "illegal_billboard", geom
        else:
            lost = geom.intersection(green) if not green.is_empty else Polygon()
            lost = without_slivers(lost, 0.2)
            if lost.area >= cfg.min_green_m2:
                category, vgeom = "green_encroachment", lost
            elif cls in ("building", "shed"):
                category, vgeom, trail = _construction_excess(geom, cls, registry, cfg, trail)
        if outcome is not None:
            outcome.trails[ids[k]] = trail
        if category is None:
            continue
        parcel_id, district, squad = locate(vgeom, registry)
        rows.append({
            "category": category, "object_class": cls, "area_m2": round(float(vgeom.area), 2),
            "confidence": round(float(score), 3), "parcel_id": parcel_id,
            "district": district, "squad": squad, "source": source, "checks": trail,
            "geometry": vgeom, "_members": [ids[k]],
        })
    if not rows:
        return _empty(crs)
    if cfg.on("merge_sites"):
        rows = _one_site_per_structure(_one_site_per_green_area(rows))
    if outcome is not None:
        outcome.members = [list(r["_members"]) for r in rows]  # type: ignore[arg-type]
    frame = pd.DataFrame(rows).drop(columns="_members")
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=crs)


@dataclass
class DiffOutcome:
    """What the diff decided, for the detections' trails.

    Attributes:
        trails: each detection's trail after the diff, by ``det_id``.
        members: per violation returned (in order), the ``det_id`` of the detections it
            came from (several when ``merge_sites`` made one site of them).

    """

    trails: dict[int, str] = field(default_factory=dict)
    members: list[list[int]] = field(default_factory=list)


def _construction_excess(geom: BaseGeometry, cls: str, registry: Registry, cfg: DiffConfig,
                         trail: str) -> tuple[str | None, BaseGeometry, str]:
    """A structure's illegal part beyond the permits of its kind, and its trail.

    With ``extension_depth`` on, an extension of a permitted footprint must be at least
    ``min_extension_m2`` and its excess at least a room deep; off, any excess of
    ``min_violation_m2`` counts as it is.
    """
    if not cfg.on("extension_depth"):
        permitted = registry.permitted_by_kind[cls]
        raw = areal(geom.difference(permitted)) if not permitted.is_empty else geom
        return (("illegal_construction", raw, trail) if raw.area >= cfg.min_violation_m2
                else (None, Polygon(), trail))
    min_area = cfg.min_violation_m2
    if geom.intersects(registry.permitted_union):  # an extension
        min_area = max(min_area, cfg.min_extension_m2)
    excess = extension_excess(geom, registry, cls, cfg, min_area)
    raw_area = geom.difference(registry.permitted_by_kind[cls]).area \
        if not registry.permitted_by_kind[cls].is_empty else geom.area
    if excess.area >= min_area:
        if raw_area - excess.area > 0.5:
            trail = extend(trail, entry("extension_depth", "reshape", "excess_kept",
                                        kept=f"{excess.area:.0f}", raw=f"{raw_area:.0f}"))
        return "illegal_construction", excess, trail
    if raw_area >= cfg.min_violation_m2:  # a violation without this check
        trail = extend(trail, entry("extension_depth", "drop", "excess_small",
                                    kept=f"{excess.area:.0f}", min=f"{min_area:.0f}"))
    return None, Polygon(), trail


def _one_site_per_structure(rows: list[dict[str, object]],
                            share: float = 0.3) -> list[dict[str, object]]:
    """Merge illegal-construction findings that overlap into one site.

    The light strip of an extension may be seen both as part of its building (the excess
    over the permit) and as a shed on its own, wholly or in part: one structure, one site,
    its area counted once (the union). Findings overlapping by at least ``share`` of the
    smaller one's area are the same structure; two structures do not overlap.
    """
    def linked(found: list[dict[str, object]]) -> list[tuple[int, int]]:
        geoms = [r["geometry"] for r in found]
        left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        return [(i, j) for i, j in zip(left.tolist(), right.tolist()) if i < j and
                geoms[i].intersection(geoms[j]).area
                >= share * min(geoms[i].area, geoms[j].area)]
    return _merge_sites(rows, "illegal_construction", linked)


def _one_site_per_green_area(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Merge touching green-encroachment findings in one parcel into one site.

    A paved yard in a park may be seen as a structure, a shed and cleared ground at once;
    the squad has one site to visit and leadership one area to count.
    """
    def linked(found: list[dict[str, object]]) -> list[tuple[int, int]]:
        geoms = [r["geometry"] for r in found]
        left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=0.5)
        return [(i, j) for i, j in zip(left.tolist(), right.tolist())
                if i < j and found[i]["parcel_id"] == found[j]["parcel_id"]]
    return _merge_sites(rows, "green_encroachment", linked)


def _merge_sites(rows: list[dict[str, object]], category: str,
                 linked: Callable[[list[dict[str, object]]], list[tuple[int, int]]],
                 ) -> list[dict[str, object]]:
    """Merge the findings of one category that ``linked`` pairs (by index) into one site.

    The merged site is the union of its parts, keeps the class of its largest part and the
    highest confidence.
    """
    these = [r for r in rows if r["category"] == category]
    if len(these) < 2:
        return rows
    merged = []
    for group in connected_groups(len(these), linked(these)):
        members = [these[i] for i in group]
        if len(members) == 1:
            merged.append(members[0])
            continue
        geom = shapely.union_all([m["geometry"] for m in members])
        main = max(members, key=lambda m: float(m["area_m2"]))  # type: ignore[arg-type]
        trail = extend(merge_trails(str(m.get("checks") or "") for m in members),
                       entry("merge_sites", "reshape", "merged", n=len(members)))
        merged.append({**main, "geometry": geom, "area_m2": round(float(geom.area), 2),
                       "confidence": max(float(m["confidence"]) for m in members),  # type: ignore[arg-type]
                       "checks": trail,
                       "_members": [i for m in members for i in m.get("_members", [])]})  # type: ignore[attr-defined]
    return [r for r in rows if r["category"] != category] + merged


def overlap_ratio(a: BaseGeometry, b: BaseGeometry) -> float:
    """Intersection over union of two geometries (0 when either is empty)."""
    if a.is_empty or b.is_empty:
        return 0.0
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return 0.0 if union <= 0 else inter / union
