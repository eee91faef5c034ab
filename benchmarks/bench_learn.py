"""Learning from reviews, measured on real aerial imagery of a town no model here was trained on.

The round trip of ``skypatrol train --from-reviews`` (:func:`pipeline.learn.learn_from_reviews`)
on RAMP/fAIr tiles of the held-out Nepal town (Banepa area, ``models.real.DEFAULT_HOLD_OUT``;
docs/real-data.md says how the data is brought in; ``SKYPATROL_REAL_DATA``, default
``data/real``). Only that town's tiles are used.

1. **Mosaics and the split.** The town's finest tiles (zoom 21: 256 px web-map tiles, about
   6.6 cm on the ground) are mosaicked into UTM GeoTIFFs, one per connected patch of tiles, with
   their OpenStreetMap outlines (:func:`pipeline.real_evaluation.town_mosaics`). The split is
   fixed before any tuning by one rule: patches whose centre lies west of ``SPLIT_LON``
   (85.531 E) are the **review half**, the others the **evaluation half**. The data holds two
   8x8-tile patches about 1.4 km apart (each about 137 m square), one on each side. Nothing of
   the evaluation half is surveyed, reviewed, trained on or used to pick anything.
2. **Survey.** The review half is surveyed with the shipped model
   (:func:`pipeline.survey.run_survey`) into a fresh register, against a registry of one
   residential parcel covering everything, no permits and one jurisdiction/squad, so every
   detection is a finding (as real towns were evaluated before).
3. **Simulated analyst.** The OSM outlines (clipped to the patch, >= 4 m²) play the analyst.
   Findings and outlines are matched one to one, greedily by IoU (a pair counts when its IoU is
   >= 0.1 or the finding lies at least half inside the outline). A finding with a match is
   *confirmed* (IoU >= 0.5) or *corrected* to the outline (IoU < 0.5); a billboard finding on
   a building is first *relabelled* to ``illegal_construction``/``building``. A finding with
   no match that overlaps an outline already matched is *rejected* as ``duplicate`` (neutral
   for learning); one that overlaps no outline is *rejected* as ``not_a_structure`` (a hard
   negative). Every outline left unmatched is *added* (``illegal_construction``, class
   ``building``; parcel/district/squad from :func:`pipeline.diff.locate`).
   **N counts web-map tiles** of the review half (17 m squares) in a fixed order, north to
   south then west to east: for each N only the sites (findings and added outlines) whose
   representative point lies in the first N tiles are reviewed, and those N tiles are marked
   as checked ground (``area`` reviews: every structure on them is marked) (``SKYPATROL_LEARN_N``,
   default 16, 32, 64 = a quarter, half and all of the review half).
4. **Learn and evaluate.** For each N, a copy of the surveyed register gets those reviews and
   :func:`pipeline.learn.learn_from_reviews` fine-tunes the shipped model
   (``SKYPATROL_LEARN_EPOCHS``, default 15; ``SKYPATROL_LEARN_LR0``, default learn's 0.001;
   ``held_out_share`` 0.25 of ``block_m`` = 30 m blocks: the review half is too small for
   100 m blocks to leave both a training and a held-out part; ``SKYPATROL_LEARN_REPLAY``,
   default 0: synthetic tiles of the parent's generators per reviewed training tile, as
   ``skypatrol train --from-reviews --replay``). Then the shipped card and the
   fine-tuned card (``report["card"]``, promoted or not) are both evaluated on the
   **evaluation half** exactly as the ``real`` benchmark does (survey tiling, each card's
   default runtime, match at mask IoU >= 0.5 inside the labelled ground; ``shed`` counts as a
   found building): building recall, precision (a lower bound: OSM misses some roofs) and the
   mean IoU of the matched pairs. The shipped card's figures do not depend on N and are
   measured once; learn's card holds the fine-tune's last epoch.
5. **Result** (``benchmarks/results/learn.json``; ``learn-replay.json`` with replay): per N
   the reviews by action, learn's train/held-out tiles and its own judgement on its
   held-out reviews (which are review-half data), ``fine_tune_s``, ``promoted``, and the
   evaluation half's figures old vs new; plus what was held out, the split and the machine.

Intermediate files go to ``SKYPATROL_LEARN_WORK`` (default ``runs/bench-learn``), with
``progress.json`` rewritten after each N. Rerun::

    YOLO_OFFLINE=true SKYPATROL_REAL_DATA=data/real .venv/bin/python -m benchmarks learn
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import geopandas as gpd
import mercantile
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from benchmarks.common import machine

#: Patches whose centre lies west of this longitude are reviewed; the others evaluate.
SPLIT_LON = 85.531
#: Web-map zoom of the finest tiles (about 7 cm at Banepa).
ZOOM = 21
SURVEY_ID = "banepa-review"
REVIEWER = "bench-osm-analyst"
#: A finding and an outline are the same site at this IoU (or the finding half inside it).
MATCH_IOU = 0.1
#: A matched finding is confirmed at this IoU and corrected below it.
CONFIRM_IOU = 0.5
DEFAULT_N = (16, 32, 64)


def split_patches(patches: list[dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                         list[dict[str, Any]]]:
    """(review half, evaluation half): patches west / east of ``SPLIT_LON``."""
    review: list[dict[str, Any]] = []
    evaluation: list[dict[str, Any]] = []
    for p in patches:
        c = gpd.GeoSeries([p["region"].centroid], crs=p["truth"].crs).to_crs(4326).iloc[0]
        (review if c.x < SPLIT_LON else evaluation).append(p)
    if not review or not evaluation:
        raise RuntimeError(f"the split at {SPLIT_LON} E left an empty half "
                           f"({len(review)} review, {len(evaluation)} evaluation patches)")
    return review, evaluation


def write_open_registry(path: Path, area: BaseGeometry, crs: Any,
                        name: str = "Banepa") -> Path:
    """A registry of one residential parcel over ``area``, no permits, one squad.

    ``name`` names the district (the parcel is ``NAME-1``, the squad ``NAME-1``).
    """
    from geodata.registry import write_registry

    def empty(cols: dict[str, str]) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame({c: pd.Series([], dtype=t) for c, t in cols.items()},
                                geometry=gpd.GeoSeries([], crs=crs), crs=crs)

    parcels = gpd.GeoDataFrame({"parcel_id": [f"{name.upper()}-1"],
                                "land_use": ["residential"], "district": [name]},
                               geometry=[area], crs=crs)
    jur = gpd.GeoDataFrame({"district": [name], "squad": [f"{name}-1"]},
                           geometry=[area], crs=crs)
    return write_registry(
        path, parcels=parcels,
        permitted_structures=empty({"permit_id": "object", "parcel_id": "object",
                                    "kind": "object"}),
        billboard_permits=empty({"permit_id": "object", "valid_until": "datetime64[ms]"}),
        jurisdictions=jur)


def tile_order(patch: dict[str, Any], crs: Any) -> dict[tuple[int, int], int]:
    """Rank of each zoom-21 tile of a patch: north to south, then west to east."""
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    minx, miny, maxx, maxy = patch["region"].bounds
    w, s = to_ll.transform(minx, miny)
    e, n = to_ll.transform(maxx, maxy)
    tiles = {(t.x, t.y) for t in mercantile.tiles(w, s, e, n, ZOOM)}
    inside = [xy for xy in tiles if patch["region"].buffer(-0.5).intersects(
        gpd.GeoSeries([shapely.box(*mercantile.bounds(*xy, ZOOM))], crs=4326)
        .to_crs(crs).iloc[0])]
    return {xy: k for k, xy in enumerate(sorted(inside, key=lambda t: (t[1], t[0])))}


def tile_of(geom: BaseGeometry, crs: Any) -> tuple[int, int]:
    """The zoom-21 tile holding a site's representative point."""
    p = geom.representative_point()
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(p.x, p.y)
    t = mercantile.tile(lon, lat, ZOOM)
    return t.x, t.y


def polygons(g: BaseGeometry, min_area: float = 0.0) -> BaseGeometry | None:
    """The valid polygons of ``g`` (parts over ``min_area`` m²), or None when there is none."""
    flat = shapely.get_parts(shapely.make_valid(g))
    while any(p.geom_type in ("MultiPolygon", "GeometryCollection") for p in flat):
        flat = shapely.get_parts(flat)  # a collection may hold multipolygons
    parts = [p for p in flat if p.geom_type == "Polygon" and p.area > 0 and p.area >= min_area]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def simulate_reviews(cases: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, registry: Any,
                     order: dict[tuple[int, int], int], crs: Any) -> list[dict[str, Any]]:
    """The analyst's reviews (with the tile rank of each site), from the OSM outlines."""
    from pipeline.diff import locate
    from pipeline.reviews import Review, added_task_id

    findings = cases.reset_index(drop=True)  # one survey: every case is its finding
    outlines = truth.reset_index(drop=True)
    pairs = []
    for i, f in enumerate(findings.geometry):
        for j in outlines.sindex.query(f, predicate="intersects"):
            o = outlines.geometry.iloc[j]
            inter = f.intersection(o).area
            iou = inter / (f.area + o.area - inter)
            if iou >= MATCH_IOU or inter >= 0.5 * f.area:
                pairs.append((iou, i, int(j)))
    match: dict[int, tuple[int, float]] = {}
    used: set[int] = set()
    for iou, i, j in sorted(pairs, reverse=True):
        if i not in match and j not in used:
            match[i] = (j, iou)
            used.add(j)
    out: list[dict[str, Any]] = []

    def rank(g: BaseGeometry) -> int:
        return order.get(tile_of(g, crs), len(order))

    for i, f in findings.iterrows():
        base = {"task_id": f.task_id, "survey_id": SURVEY_ID, "reviewer": REVIEWER}
        reviews = []
        if i in match:
            j, iou = match[i]
            o = outlines.geometry.iloc[j]
            if f.object_class not in ("building", "shed"):
                reviews.append(Review(**base, action="relabel", category="illegal_construction",
                                      object_class="building"))
            if iou >= CONFIRM_IOU:
                reviews.append(Review(**base, action="confirm"))
            else:
                reviews.append(Review(**base, action="correct", geometry=polygons(o)))
        else:
            dup = any(f.geometry.intersects(outlines.geometry.iloc[j]) for j in used)
            reviews.append(Review(**base, action="reject",
                                  reason="duplicate" if dup else "not_a_structure"))
        out.append({"rank": rank(f.geometry), "reviews": reviews,
                    "kind": reviews[-1].action if reviews[-1].action != "reject"
                    else f"reject:{reviews[-1].reason}"})
    for j, o in enumerate(outlines.geometry):
        if j in used:
            continue
        g = polygons(o)
        if g is None:
            continue
        parcel, district, squad = locate(g, registry)
        tid = added_task_id(SURVEY_ID, "illegal_construction", g)
        out.append({"rank": rank(g), "kind": "add", "reviews": [Review(
            task_id=tid, survey_id=SURVEY_ID, action="add", reviewer=REVIEWER,
            category="illegal_construction", object_class="building", geometry=g,
            parcel_id=parcel, district=district, squad=squad)]})
    out.sort(key=lambda s: s["rank"])
    return out


def evaluate_half(patches: list[dict[str, Any]], card: str | None) -> dict[str, Any]:
    """Building recall, precision and mean IoU of a card on the evaluation half's patches."""
    from models.runtime import Detector
    from pipeline.detect import TilingConfig, detect_raster
    from pipeline.real_evaluation import building_totals, score_patch

    detector = Detector(card)
    tiling = TilingConfig.for_detector(detector)
    parts = []
    t0 = time.perf_counter()
    for p in patches:
        det = detect_raster(p["path"], detector, tiling, p["truth"].crs)
        parts.append(score_patch(det, p["truth"], p["region"]))
    res = building_totals(parts)
    res.update(card=str(detector.card_path), runtime=detector.runtime,
               detect_s=round(time.perf_counter() - t0, 1))
    return res


def run() -> dict[str, Any]:
    from models.real import DEFAULT_HOLD_OUT, find_tiles
    from pipeline.cases import read_register, record_review, register_crs
    from pipeline.learn import LearnConfig, learn_from_reviews
    from pipeline.real_evaluation import _clip, town_mosaics
    from pipeline.reviews import Review, area_task_id
    from pipeline.survey import SurveySpec, load_registry, run_survey

    real = Path(os.environ.get("SKYPATROL_REAL_DATA", "data/real"))
    work = Path(os.environ.get("SKYPATROL_LEARN_WORK", "runs/bench-learn"))
    ns = tuple(int(v) for v in os.environ.get("SKYPATROL_LEARN_N", "").split(",") if v) \
        or DEFAULT_N
    epochs = int(os.environ.get("SKYPATROL_LEARN_EPOCHS", "15"))
    lr0 = float(os.environ.get("SKYPATROL_LEARN_LR0", str(LearnConfig.lr0)))
    replay = float(os.environ.get("SKYPATROL_LEARN_REPLAY", "0"))
    cfg = LearnConfig(epochs=epochs, lr0=lr0, held_out_share=0.25, block_m=30.0, replay=replay)
    town = DEFAULT_HOLD_OUT[0]
    out: dict[str, Any] = {
        "benchmark": "learn",
        "date": dt.date.today().isoformat(),
        "held_out_town": town.name,
        "data": str(real),
        "note": "learn from reviews on a town never trained on: the review half is surveyed "
                "and reviewed (reviews simulated from OpenStreetMap outlines), the model "
                "fine-tuned, and both models evaluated on the evaluation half only; "
                "OSM misses some roofs, so precision is a lower bound",
        "machine": machine(),
    }
    if replay:  # the reviews-only figures stay in learn.json
        out["results_file"] = "learn-replay"
    if not real.is_dir():
        out["skipped"] = f"no {real} (see docs/real-data.md)"
        return out
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tiles = [t for t in find_tiles([real]) if t.z == ZOOM and town.holds(*t.lonlat)]
    patches = town_mosaics(tiles, work / "mosaics")
    review, evaluation = split_patches(patches)
    if len(review) != 1:
        raise RuntimeError(f"expected one review patch, got {len(review)}")
    rp = review[0]
    crs = rp["truth"].crs
    out["split"] = {
        "rule": f"zoom-{ZOOM} patches with centre west of {SPLIT_LON} E review, the rest "
                "evaluate (fixed before tuning)",
        "review_half": {"patches": [Path(p["path"]).name for p in review],
                        "tiles": sum(p["tiles"] for p in review),
                        "gsd_cm": rp["gsd_cm"],
                        "osm_buildings": int(len(_clip(rp["truth"].drop_duplicates(
                            subset="geometry"), rp["region"])))},
        "evaluation_half": {"patches": [Path(p["path"]).name for p in evaluation],
                            "tiles": sum(p["tiles"] for p in evaluation),
                            "gsd_cm": [p["gsd_cm"] for p in evaluation]},
    }
    # 2. survey the review half with the shipped model
    registry_path = write_open_registry(work / "registry.gpkg", rp["region"].buffer(50), crs)
    base = work / "surveyed.gpkg"
    t0 = time.perf_counter()
    run_survey(SurveySpec(inputs=(rp["path"],), registry=registry_path, out=work / "survey",
                          cases=base, survey_id=SURVEY_ID, survey_date=dt.date(2026, 1, 1)))
    layers = read_register(base, register_crs(base) or crs)
    cases = layers["cases"]
    out["survey"] = {"findings": int(len(cases)), "survey_s": round(time.perf_counter() - t0, 1),
                     "by_class": {str(k): int(v) for k, v in
                                  cases.object_class.value_counts().items()}}
    # 3. the simulated analyst, sites in tile order
    truth = _clip(rp["truth"].drop_duplicates(subset="geometry"), rp["region"])
    order = tile_order(rp, crs)
    sites = simulate_reviews(cases, truth, load_registry(registry_path), order, crs)
    out["review_half_tiles_ranked"] = len(order)
    out["sites_all"] = dict(Counter(s["kind"] for s in sites))
    # 4. the shipped model on the evaluation half (does not depend on N)
    out["evaluation_old"] = evaluate_half(evaluation, None)
    out["runs"] = {}
    for n in ns:
        res: dict[str, Any] = {"n_tiles": n}
        chosen = [s for s in sites if s["rank"] < n]
        reg = work / f"n{n}" / "cases.gpkg"
        reg.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base, reg)
        t0 = time.perf_counter()
        for s in chosen:
            for r in s["reviews"]:
                record_review(reg, r)
        # the analyst has checked those tiles whole: every structure in them is marked
        for xy, rank in order.items():
            if rank < n:
                g = polygons(gpd.GeoSeries([shapely.box(*mercantile.bounds(*xy, ZOOM))],
                                            crs=4326).to_crs(crs).iloc[0]
                              .intersection(rp["region"]))
                if g is not None:
                    record_review(reg, Review(area_task_id(SURVEY_ID, g), SURVEY_ID, "area",
                                              REVIEWER, geometry=g))
        res["sites_reviewed"] = len(chosen)
        res["reviews_by_action"] = dict(Counter(s["kind"] for s in chosen))
        res["record_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        try:
            rep = learn_from_reviews(reg, work / f"n{n}" / "learn", cfg=cfg)
        except Exception as exc:  # noqa: BLE001 - recorded in the result, the next N runs
            res["error"] = f"{type(exc).__name__}: {exc}"
            out["runs"][str(n)] = res
            (work / "progress.json").write_text(json.dumps(out, indent=2, default=str),
                encoding="utf-8")
            continue
        res.update(learn_s=round(time.perf_counter() - t0, 1), fine_tune_s=rep["fine_tune_s"],
                   train_tiles=rep["train_tiles"], held_out_tiles=rep["held_out_tiles"],
                   replay_tiles=rep["replay_tiles"],
                   reviewed_sites=rep["reviewed_sites"], learn_held_out=rep["held_out"],
                   promoted=rep["promoted"], card=rep["card"])
        new = evaluate_half(evaluation, rep["card"])
        old = out["evaluation_old"]
        res["evaluation"] = {
            k: {"old": old[k], "new": new[k]}
            for k in ("recall", "precision", "mean_iou_matched", "matched", "detected",
                      "buildings")}
        res["evaluation_new"] = new
        out["runs"][str(n)] = res
        (work / "progress.json").write_text(json.dumps(out, indent=2, default=str),
            encoding="utf-8")
    out["config"] = {"learn": {"epochs": cfg.epochs, "held_out_share": cfg.held_out_share,
                               "block_m": cfg.block_m, "lr0": cfg.lr0, "batch": cfg.batch,
                               "replay": cfg.replay},
                     "match_iou": MATCH_IOU, "confirm_iou": CONFIRM_IOU}
    return out
