"""What each named check is worth on real imagery: the check ablation on real tiles.

The cross-world benchmark ablates the checks on synthetic worlds only; this one runs the
whole survey decision (every check, then the registry diff) on real aerial imagery, with
each check toggled in turn as there (``bench_crossworld.check_configs``), and scores what
would reach a squad:

- **Real towns** (the RAMP tiles of docs/real-data.md, ``SKYPATROL_REAL_DATA``, default
  ``data/real``): every zoom-21 (~7 cm) patch of the towns that are *not* held out. The
  shipped model was trained on synthetic worlds only and the checks were tuned on synthetic
  worlds only, so none of this imagery was used to fit either; the held-out town (Banepa)
  is kept for the model's own evaluation and never looked at here. Each patch gets a
  registry of one residential parcel and no permits (every structure is then an illegal
  construction): construction findings are matched to the OpenStreetMap outlines at mask
  IoU 0.5 inside the labelled ground (``pipeline.real_evaluation.score_patch``): building
  recall, precision (a lower bound: OSM misses some roofs) and the matched pairs' mean IoU;
  billboard and other findings are counted apart (OSM has no billboards).
- **Negative scenes** (``SKYPATROL_NEGATIVES``, default ``data/negatives``, built by
  ``python -m benchmarks.negatives``): real imagery with no structures; every finding is false
  (findings per hectare).

Detection runs once per image; only the decision is repeated per configuration.
``python -m benchmarks real-checks`` writes ``results/real-checks.json``.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from shapely.geometry import box

from benchmarks.bench_crossworld import check_configs, detect_once
from benchmarks.bench_learn import write_open_registry
from benchmarks.common import machine

ZOOM = 21
DATE = dt.date(2026, 1, 1)


def decisions(raster: str, region: Any, crs: Any, work: Path, configs: dict[str, Any],
              name: str, detector: Any) -> tuple[dict[str, gpd.GeoDataFrame], list[str]]:
    """The violations of one image under each configuration (detected once), and the
    ingest's reasons when it refused the image (then there are no violations to score).

    ``detector``: the shipped model, loaded once for every image (its second looks).
    """
    from pipeline import survey as sv

    work.mkdir(parents=True, exist_ok=True)
    registry_path = write_open_registry(work / "registry.gpkg", region.buffer(50), crs, name)
    spec = sv.SurveySpec(inputs=(raster,), registry=registry_path, out=work / "out",
                         cases=work / "cases.gpkg", survey_id="real", survey_date=DATE)
    registry, report, rasters, paths = detect_once(spec)
    refused = [f"{i.record.source}: {i.record.reason}" for i in report.items
               if i.record.status != "ok"]
    detections = sv.combine_detections(paths, registry.crs)
    return ({n: sv.decide(detections, rasters, registry, DATE, cfg, detector)[1]
             for n, cfg in configs.items()}, refused)


def as_detections(violations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Violations in ``score_patch``'s terms: construction findings are roofs, others not."""
    cls = np.where(violations["category"].eq("illegal_construction"), "building",
                   violations["category"].astype(str))
    return violations.assign(**{"class": cls, "score": violations["confidence"]})


def town_label(tiles: list[Any]) -> str:
    """A town's name in the results: the rounded position of its tiles' centre."""
    lon = sum(t.lonlat[0] for t in tiles) / len(tiles)
    lat = sum(t.lonlat[1] for t in tiles) / len(tiles)
    ew, ns = ("E" if lon >= 0 else "W"), ("N" if lat >= 0 else "S")
    return f"{abs(lon):.1f}{ew} {abs(lat):.1f}{ns}"


def real_towns(real: Path, work: Path, configs: dict[str, Any],
               detector: Any) -> dict[str, Any]:
    """Pooled building recall / precision / IoU per configuration over the towns' patches."""
    from models.real import DEFAULT_HOLD_OUT, find_tiles
    from pipeline.real_evaluation import building_totals, score_patch, town_mosaics

    tiles = [t for t in find_tiles([real]) if t.z == ZOOM
             and not any(h.holds(*t.lonlat) for h in DEFAULT_HOLD_OUT)]
    by_town: dict[str, list[Any]] = defaultdict(list)
    for t in tiles:  # a town: the tiles of one z10 parent tile
        by_town[t.town].append(t)
    parts: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    towns: dict[str, Any] = {}
    refused: list[str] = []
    for k_town, (_, ttiles) in enumerate(sorted(by_town.items())):
        town = town_label(ttiles)
        patches = town_mosaics(ttiles, work / "mosaics" / f"t{k_town}")
        towns[town] = {"tiles": len(ttiles), "patches": len(patches),
                       "gsd_cm": sorted({p["gsd_cm"] for p in patches})}
        for k, p in enumerate(patches):
            found, why = decisions(p["path"], p["region"], p["truth"].crs,
                                   work / "runs" / f"t{k_town}-{k}", configs, f"T{k_town}",
                                   detector)
            if why:  # nothing was looked for there: not scored
                refused += why
                continue
            for name, v in found.items():
                parts[name][town].append(score_patch(as_detections(v), p["truth"], p["region"]))
    return {"towns": towns, "refused_images": refused,
            "pooled": {name: building_totals([s for ps in per.values() for s in ps])
                       for name, per in parts.items()},
            "per_town": {name: {t: building_totals(ps) for t, ps in per.items()}
                         for name, per in parts.items()}}


def negative_scenes(folder: Path, work: Path, configs: dict[str, Any],
                    detector: Any) -> dict[str, Any]:
    """False findings per hectare per configuration on real scenes with no structures.

    An image the ingest refuses (the quality gate) is named in ``refused_images`` and its
    ground is left out of the area: nothing was looked for there.
    """
    from pipeline.real_evaluation import scene_rasters, valid_area_ha

    area = 0.0
    found: dict[str, int] = dict.fromkeys(configs, 0)
    by_cat: dict[str, dict[str, int]] = {n: defaultdict(int) for n in configs}
    refused: list[str] = []
    scenes = sorted(p for p in folder.iterdir() if (p / "SOURCE.json").is_file())
    (work / "scenes").mkdir(parents=True, exist_ok=True)
    for scene in scenes:
        for k, (_, tif) in enumerate(scene_rasters(scene, work / "scenes")):
            with rasterio.open(tif) as ds:
                crs, bounds = ds.crs, ds.bounds
            got, why = decisions(str(tif), box(*bounds), crs,
                                 work / "neg" / f"{scene.name}-{k}", configs, "Scene", detector)
            if why:
                refused += why
                continue
            area += valid_area_ha(tif)
            for name, v in got.items():
                found[name] += len(v)
                for c, n in v["category"].value_counts().items():
                    by_cat[name][str(c)] += int(n)
    return {"scenes": [s.name for s in scenes], "area_ha": round(area, 3),
            "refused_images": refused,
            "pooled": {n: {"findings": found[n],
                           "findings_per_ha": round(found[n] / area, 3) if area else None,
                           "by_category": dict(by_cat[n])} for n in configs}}


def run() -> dict[str, Any]:
    real = Path(os.environ.get("SKYPATROL_REAL_DATA", "data/real"))
    negatives = Path(os.environ.get("SKYPATROL_NEGATIVES", "data/negatives"))
    from models.runtime import Detector

    configs = check_configs()
    detector = Detector(None)
    out: dict[str, Any] = {
        "benchmark": "real-checks",
        "date": dt.date.today().isoformat(),
        "model": "shipped",
        "note": "each check toggled on real imagery neither the shipped model nor the checks "
                "were fitted to: the RAMP towns that are not held out (the held-out town is "
                "not used here) and the negative scenes; one parcel, no permits",
        "machine": machine(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        if real.is_dir():
            out["towns"] = real_towns(real, Path(tmp) / "towns", configs, detector)
        else:
            out["towns"] = {"skipped": f"no {real} (see docs/real-data.md)"}
        if negatives.is_dir():
            out["negatives"] = negative_scenes(negatives, Path(tmp) / "negatives", configs,
                                               detector)
        else:
            out["negatives"] = {"skipped": f"no {negatives} (python -m benchmarks.negatives)"}
    if not real.is_dir() and not negatives.is_dir():
        out["skipped"] = f"no {real} and no {negatives} (see docs/real-data.md)"
    return out

