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

from benchmarks.bench_crossworld import check_configs
from benchmarks.bench_learn import write_open_registry
from benchmarks.common import machine

ZOOM = 21
DATE = dt.date(2026, 1, 1)


def decisions(raster: str, region: Any, crs: Any, work: Path,
              configs: dict[str, Any]) -> dict[str, gpd.GeoDataFrame]:
    """The violations of one image under each configuration (detected once)."""
    from models.runtime import Detector
    from pipeline import survey as sv

    work.mkdir(parents=True, exist_ok=True)
    registry_path = write_open_registry(work / "registry.gpkg", region.buffer(50), crs)
    spec = sv.SurveySpec(inputs=(raster,), registry=registry_path, out=work / "out",
                         cases=work / "cases.gpkg", survey_id="real", survey_date=DATE)
    registry = sv.start_checks(spec)
    report = sv.ingest(spec.inputs, registry.crs, spec.ingest, strict=False)
    rasters = [sv.prepare_raster(i, spec.workdir, registry.crs) for i in report.ok]
    paths = [sv.detect_image(r, None, registry.crs, spec.workdir) for r in rasters]
    detections = sv.combine_detections(paths, registry.crs)
    detector = Detector(None)
    return {name: sv.decide(detections, rasters, registry, DATE, cfg, detector)[1]
            for name, cfg in configs.items()}


def as_detections(violations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Violations in ``score_patch``'s terms: construction findings are roofs, others not."""
    cls = np.where(violations["category"].eq("illegal_construction"), "building",
                   violations["category"].astype(str))
    return violations.assign(**{"class": cls, "score": violations["confidence"]})


def town_of(lonlat: tuple[float, float]) -> str:
    """A town's name in the results: its rounded position."""
    lon, lat = lonlat
    ew, ns = ("E" if lon >= 0 else "W"), ("N" if lat >= 0 else "S")
    return f"{abs(round(lon))}{ew} {abs(round(lat))}{ns}"


def real_towns(real: Path, work: Path, configs: dict[str, Any]) -> dict[str, Any]:
    """Pooled building recall / precision / IoU per configuration over the towns' patches."""
    from models.real import DEFAULT_HOLD_OUT, find_tiles
    from pipeline.real_evaluation import _totals, score_patch, town_mosaics

    tiles = [t for t in find_tiles([real]) if t.z == ZOOM
             and not any(h.holds(*t.lonlat) for h in DEFAULT_HOLD_OUT)]
    by_town: dict[str, list[Any]] = defaultdict(list)
    for t in tiles:
        by_town[town_of(t.lonlat)].append(t)
    parts: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    towns: dict[str, Any] = {}
    for town, ttiles in sorted(by_town.items()):
        patches = town_mosaics(ttiles, work / "mosaics" / town.replace(" ", "_"))
        towns[town] = {"tiles": len(ttiles), "patches": len(patches),
                       "gsd_cm": sorted({p["gsd_cm"] for p in patches})}
        for k, p in enumerate(patches):
            crs = p["truth"].crs
            found = decisions(p["path"], p["region"], crs,
                              work / "runs" / f"{town.replace(' ', '_')}-{k}", configs)
            for name, v in found.items():
                parts[name][town].append(score_patch(as_detections(v), p["truth"], p["region"]))
    return {"towns": towns,
            "pooled": {name: _totals([s for ps in per.values() for s in ps])
                       for name, per in parts.items()},
            "per_town": {name: {t: _totals(ps) for t, ps in per.items()}
                         for name, per in parts.items()}}


def negative_scenes(folder: Path, work: Path, configs: dict[str, Any]) -> dict[str, Any]:
    """False findings per hectare per configuration on real scenes with no structures."""
    from pipeline.real_evaluation import scene_rasters

    area = 0.0
    found: dict[str, int] = dict.fromkeys(configs, 0)
    by_cat: dict[str, dict[str, int]] = {n: defaultdict(int) for n in configs}
    scenes = sorted(p for p in folder.iterdir() if (p / "SOURCE.json").is_file())
    (work / "scenes").mkdir(parents=True, exist_ok=True)
    for scene in scenes:
        for k, (_, tif) in enumerate(scene_rasters(scene, work / "scenes")):
            with rasterio.open(tif) as ds:
                area += float((ds.read_masks(1) > 0).sum()) * abs(ds.transform.a
                                                                  * ds.transform.e) / 1e4
                crs, bounds = ds.crs, ds.bounds
            got = decisions(str(tif), box(*bounds), crs,
                            work / "neg" / f"{scene.name}-{k}", configs)
            for name, v in got.items():
                found[name] += len(v)
                for c, n in v["category"].value_counts().items():
                    by_cat[name][str(c)] += int(n)
    return {"scenes": [s.name for s in scenes], "area_ha": round(area, 3),
            "pooled": {n: {"findings": found[n],
                           "findings_per_ha": round(found[n] / area, 3) if area else None,
                           "by_category": dict(by_cat[n])} for n in configs}}


def run() -> dict[str, Any]:
    real = Path(os.environ.get("SKYPATROL_REAL_DATA", "data/real"))
    negatives = Path(os.environ.get("SKYPATROL_NEGATIVES", "data/negatives"))
    configs = check_configs()
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
            out["towns"] = real_towns(real, Path(tmp) / "towns", configs)
        else:
            out["towns"] = {"skipped": f"no {real} (see docs/real-data.md)"}
        if negatives.is_dir():
            out["negatives"] = negative_scenes(negatives, Path(tmp) / "negatives", configs)
        else:
            out["negatives"] = {"skipped": f"no {negatives} (python -m benchmarks.negatives)"}
    return out


def f1(p: float | None, r: float | None) -> float:
    """The harmonic mean of precision and recall (0 when both are 0 or missing)."""
    a, b = p or 0.0, r or 0.0
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def verdicts(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per toggled check: the change it makes when run, and whether that helps.

    Running a check *helps* when it raises the towns' building F1 by at least 0.01 or cuts
    the negative scenes' false findings per hectare by at least 10 %; it *harms* when it
    does the opposite. ``with NAME`` rows are checks off by default (switched on), ``without
    NAME`` rows default ones (switched off): the sign is that of running the check.
    """
    towns = (result.get("towns") or {}).get("pooled") or {}
    neg = (result.get("negatives") or {}).get("pooled") or {}
    names = [n for n in (towns or neg) if n != "default checks"]
    out: dict[str, dict[str, Any]] = {}
    for run_name in names:
        on = run_name.startswith("with ")
        helps = harms = False
        row: dict[str, Any] = {"check": run_name.split(" ", 1)[1],
                               "default": "off" if on else "on"}
        if towns:
            base, alt = towns["default checks"], towns[run_name]
            gain = f1(alt["precision"], alt["recall"]) - f1(base["precision"], base["recall"])
            gain *= 1 if on else -1
            row["towns"] = {k: (base[k], alt[k]) for k in ("precision", "recall",
                                                           "mean_iou_matched", "detected")}
            helps |= gain >= 0.01
            harms |= gain <= -0.01
        if neg:
            a = neg["default checks"]["findings_per_ha"] or 0.0
            b = neg[run_name]["findings_per_ha"] or 0.0
            with_check, without = (b, a) if on else (a, b)
            row["negatives_per_ha"] = (a, b)
            helps |= with_check <= 0.9 * without and without > 0
            harms |= without <= 0.9 * with_check and with_check > 0
        row["verdict"] = ("mixed" if helps and harms else "helps" if helps else
                          "harms" if harms else "no effect measured")
        out[run_name] = row
    return out
