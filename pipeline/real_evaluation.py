"""Evaluation on real imagery: held-out towns with building outlines, and scenes with none."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import geopandas as gpd
import mercantile
import numpy as np
import rasterio
from rasterio.transform import from_bounds
from rasterio.warp import Resampling, calculate_default_transform, reproject
from shapely.geometry import box
from shapely.ops import unary_union

from geodata.crs import utm_crs_at
from models.real import HoldOut, RealTile, find_tiles, read_outlines
from models.runtime import Detector
from pipeline.model_evaluation import match_detections

#: Detected classes that are roofed structures: a real building found as a "shed" is found.
ROOFED = ("building", "shed")
#: Outlines (and clipped pieces) smaller than this are not counted, m² (as in training).
MIN_AREA_M2 = 4.0
#: The issue's goal applies to imagery at this GSD or finer, cm.
FINE_GSD_CM = 10.0


def _components(tiles: Sequence[RealTile]) -> list[list[RealTile]]:
    """Tiles of one zoom grouped into 8-connected patches (each becomes one mosaic)."""
    by_xy = {(t.x, t.y): t for t in tiles}
    seen: set[tuple[int, int]] = set()
    out = []
    for start in sorted(by_xy):
        if start in seen:
            continue
        stack, comp = [start], []
        seen.add(start)
        while stack:
            x, y = stack.pop()
            comp.append(by_xy[(x, y)])
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    n = (x + dx, y + dy)
                    if n in by_xy and n not in seen:
                        seen.add(n)
                        stack.append(n)
        out.append(comp)
    return out


def town_mosaics(tiles: Sequence[RealTile], out_dir: Path) -> list[dict[str, Any]]:
    """Each connected patch of tiles as a GeoTIFF in its UTM zone, with its truth and region.

    Web Mercator metres are not ground metres (they grow by 1/cos(latitude)); the pipeline
    measures GSD from the raster's transform, so patches are warped to UTM first.
    Returns dicts with ``path``, ``gsd_cm``, ``z``, ``region`` (the labelled ground, UTM) and
    ``truth`` (a GeoDataFrame of building outlines, UTM).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    by_z: dict[int, list[RealTile]] = defaultdict(list)
    for t in tiles:
        by_z[t.z].append(t)
    result = []
    for z, ztiles in sorted(by_z.items()):
        for k, comp in enumerate(_components(ztiles)):
            x0, x1 = min(t.x for t in comp), max(t.x for t in comp)
            y0, y1 = min(t.y for t in comp), max(t.y for t in comp)
            first = cv2.imread(str(comp[0].image), cv2.IMREAD_COLOR)
            n = first.shape[0] if first is not None else 256
            src = np.zeros((3, (y1 - y0 + 1) * n, (x1 - x0 + 1) * n), np.uint8)
            for t in comp:
                img = cv2.imread(str(t.image), cv2.IMREAD_COLOR)
                if img is None:
                    continue
                img = cv2.resize(img, (n, n)) if img.shape[:2] != (n, n) else img
                r, c = (t.y - y0) * n, (t.x - x0) * n
                src[:, r:r + n, c:c + n] = img[:, :, ::-1].transpose(2, 0, 1)
            a = mercantile.xy_bounds(x0, y0, z)
            b = mercantile.xy_bounds(x1, y1, z)
            src_tf = from_bounds(a.left, b.bottom, b.right, a.top, src.shape[2], src.shape[1])
            lon, lat = comp[0].lonlat
            utm = utm_crs_at(lon, lat)
            gsd_m = comp[0].ground_gsd_cm(n) / 100.0
            tf, w, h = calculate_default_transform(
                "EPSG:3857", utm, src.shape[2], src.shape[1], a.left, b.bottom, b.right, a.top,
                resolution=gsd_m)
            dst = np.zeros((3, h, w), np.uint8)
            for i in range(3):
                reproject(src[i], dst[i], src_transform=src_tf, src_crs="EPSG:3857",
                          dst_transform=tf, dst_crs=utm, resampling=Resampling.bilinear,
                          src_nodata=0, dst_nodata=0)
            path = out_dir / f"z{z}_{k:03d}.tif"
            with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=3,
                               dtype="uint8", crs=utm, transform=tf, nodata=0,
                               tiled=True, compress="deflate") as ds:
                ds.write(dst)
            region_3857 = unary_union([box(*mercantile.xy_bounds(t.x, t.y, t.z))
                                       for t in comp])
            region = gpd.GeoSeries([region_3857], crs="EPSG:3857").to_crs(utm).iloc[0]
            polys = [p for t in comp for p in read_outlines(t.labels)]
            truth = gpd.GeoDataFrame({"object_class": ["building"] * len(polys)},
                                     geometry=polys, crs="EPSG:3857").to_crs(utm)
            result.append({"path": str(path), "gsd_cm": round(gsd_m * 100, 2), "z": z,
                           "region": region, "truth": truth, "tiles": len(comp)})
    return result


def _clip(frame: gpd.GeoDataFrame, region: Any) -> gpd.GeoDataFrame:
    """Outlines cut to the labelled region, dissolved duplicates kept apart, pieces dropped."""
    if frame.empty:
        return frame
    clipped = frame.copy()
    clipped["geometry"] = frame.geometry.intersection(region)
    clipped = clipped.explode(index_parts=False)
    return clipped[clipped.geometry.geom_type.eq("Polygon")
                   & (clipped.geometry.area >= MIN_AREA_M2)].reset_index(drop=True)


def score_patch(det: gpd.GeoDataFrame, truth: gpd.GeoDataFrame,
                region: Any) -> dict[str, Any]:
    """Building recall, precision and IoU of one patch (any roofed class counts as found)."""
    truth = _clip(truth.drop_duplicates(subset="geometry"), region)
    roofed = det[det["class"].isin(ROOFED)].copy()
    roofed["class"] = "building"
    roofed = _clip(roofed, region)
    matches, n_true = match_detections(roofed, truth, "building")
    ious = [m.iou for m in matches if m.tp and m.iou is not None]
    others = det[~det["class"].isin(ROOFED)]
    return {"n_true": n_true, "n_detected": len(matches),
            "tp": sum(m.tp for m in matches), "ious": ious,
            "other_detections": int(len(_clip(others, region))),
            "area_ha": region.area / 1e4}


def building_totals(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pooled building recall, precision and matched IoU of scored patches (``score_patch``)."""
    n_true = sum(p["n_true"] for p in parts)
    n_det = sum(p["n_detected"] for p in parts)
    tp = sum(p["tp"] for p in parts)
    ious = [v for p in parts for v in p["ious"]]
    return {
        "buildings": n_true, "detected": n_det, "matched": tp,
        "recall": round(tp / n_true, 4) if n_true else None,
        "precision": round(tp / n_det, 4) if n_det else None,
        "mean_iou_matched": round(float(np.mean(ious)), 4) if ious else None,
        "billboard_detections": sum(p["other_detections"] for p in parts),
        "area_ha": round(sum(p["area_ha"] for p in parts), 2),
        "patches": len(parts),
    }


def evaluate_towns(roots: Sequence[Path | str], towns: Sequence[HoldOut],
                   card: Path | str | None = None, runtime: str | None = None
                   ) -> dict[str, Any]:
    """Detect on the held-out towns' tiles through the survey's tiling; score buildings.

    Matching is at mask IoU 0.5 in UTM metres, inside the ground the label files cover.
    OpenStreetMap misses some roofs, so precision here is a lower bound.
    """
    from pipeline.detect import TilingConfig, detect_raster

    detector = Detector(card, runtime=runtime)
    tiling = TilingConfig.for_detector(detector)
    all_tiles = find_tiles(roots)
    report: dict[str, Any] = {"card": str(detector.card_path), "runtime": detector.runtime,
                              "towns": {}}
    for town in towns:
        tiles = [t for t in all_tiles if town.holds(*t.lonlat)]
        by_gsd: dict[str, list[dict[str, Any]]] = defaultdict(list)
        with tempfile.TemporaryDirectory() as tmp:
            for patch in town_mosaics(tiles, Path(tmp)):
                det = detect_raster(patch["path"], detector, tiling, patch["truth"].crs)
                key = f"{patch['gsd_cm']:.0f}cm"
                by_gsd[key].append(score_patch(det, patch["truth"], patch["region"]))
        fine = [p for k, ps in by_gsd.items() if float(k[:-2]) <= FINE_GSD_CM for p in ps]
        report["towns"][town.name] = {
            "tiles": len(tiles),
            f"gsd_le_{FINE_GSD_CM:g}cm": building_totals(fine),
            "per_gsd": {k: building_totals(v) for k, v in sorted(by_gsd.items())},
        }
    return report


def scene_rasters(folder: Path, out_dir: Path) -> list[tuple[str, Path]]:
    """A negative scene's images as GeoTIFFs the pipeline measures in ground metres.

    GeoTIFFs in UTM are used as they are; those in degrees or a Mercator projection (whose
    metres grow by 1/cos(latitude)) are warped into their UTM zone. Plain images get a
    local grid at the GSD their ``SOURCE.json`` states (for the file, or the folder).
    """
    meta = json.loads((folder / "SOURCE.json").read_text(encoding="utf-8"))
    per_file = {f["file"]: f for f in meta.get("files", []) if isinstance(f, dict)}
    out = []
    for k, img in enumerate(sorted(p for p in folder.rglob("*") if p.suffix.lower() in
                                   (".tif", ".tiff", ".png", ".jpg", ".jpeg"))):
        dst = out_dir / f"{folder.name}-{k:04d}-{img.stem}.tif"
        if img.suffix.lower() in (".tif", ".tiff"):
            with rasterio.open(img) as ds:
                if ds.crs is not None and ds.crs.is_projected and ds.crs.to_epsg() not in (
                        3857, 3395, 900913):
                    out.append((img.name, img))
                    continue
                if ds.crs is not None:
                    _warp_to_utm(ds, dst)
                    out.append((img.name, dst))
                    continue
        rgb = cv2.imread(str(img), cv2.IMREAD_COLOR)
        if rgb is None:
            continue
        gsd_m = float(per_file.get(img.name, {}).get("gsd_cm", meta.get("gsd_cm"))) / 100.0
        h, w = rgb.shape[:2]
        with rasterio.open(dst, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8",
                           crs="EPSG:32650",
                           transform=from_bounds(500000, 0, 500000 + w * gsd_m, h * gsd_m,
                                                 w, h)) as ds_out:
            ds_out.write(rgb[:, :, ::-1].transpose(2, 0, 1))
        out.append((img.name, dst))
    return out


def _warp_to_utm(ds: rasterio.io.DatasetReader, dst: Path) -> None:
    from rasterio.warp import transform_bounds

    w, s, e, n = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    lon, lat = (w + e) / 2, (s + n) / 2
    utm = utm_crs_at(lon, lat)
    tf, width, height = calculate_default_transform(ds.crs, utm, ds.width, ds.height,
                                                    *ds.bounds)
    with rasterio.open(dst, "w", driver="GTiff", width=width, height=height, count=3,
                       dtype="uint8", crs=utm, transform=tf, nodata=0) as out:
        for b in (1, 2, 3):
            reproject(rasterio.band(ds, b), rasterio.band(out, b),
                      resampling=Resampling.bilinear, dst_nodata=0)


def valid_area_ha(path: Path | str) -> float:
    """The ground a raster images, hectares: its valid (mask) pixels times the pixel area."""
    with rasterio.open(path) as ds:
        return float((ds.read_masks(1) > 0).sum()) * abs(ds.transform.a * ds.transform.e) / 1e4


def evaluate_negatives(folders: Sequence[Path | str], card: Path | str | None = None,
                       runtime: str | None = None) -> dict[str, Any]:
    """Findings per hectare on real scenes with no structures (each with a SOURCE.json).

    Every detection of any class is a false finding here; the area is the valid pixels'.
    """
    from pipeline.detect import TilingConfig, detect_raster

    detector = Detector(card, runtime=runtime)
    tiling = TilingConfig.for_detector(detector)
    scenes: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for folder in map(Path, folders):
            area, found = 0.0, 0
            by_class: dict[str, int] = defaultdict(int)
            for _, tif in scene_rasters(folder, Path(tmp)):
                area += valid_area_ha(tif)
                with rasterio.open(tif) as ds:
                    crs = ds.crs
                det = detect_raster(str(tif), detector, tiling, crs)
                found += len(det)
                for k, v in det["class"].value_counts().items():
                    by_class[str(k)] += int(v)
            scenes[folder.name] = {"area_ha": round(area, 3), "findings": found,
                                   "by_class": dict(by_class)}
    total_ha = sum(s["area_ha"] for s in scenes.values())
    total = sum(s["findings"] for s in scenes.values())
    return {"scenes": scenes, "area_ha": round(total_ha, 3), "findings": total,
            "findings_per_ha": round(total / total_ha, 3) if total_ha else None}


def write_report(path: Path | str, report: dict[str, Any]) -> None:
    """Store a report as JSON (for the bench and the model card)."""
    Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

