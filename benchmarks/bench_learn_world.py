"""Learning from reviews across generators: a model of one world fine-tuned on another's reviews.

The first round trip of the review-and-learn issue: the shipped model, trained on ``classic``
worlds only, is fine-tuned by ``skypatrol train --from-reviews``
(:func:`pipeline.learn.learn_from_reviews`) on the reviews of N surveys of ``village`` worlds
(the independently written generator), and both models are judged on the held-out village
worlds of the cross-world benchmark.

1. **Review ground.** One village world of seed ``REVIEW_SEED`` (fixed on 2026-12-03 before
   any run; no training, evaluation or tuning seed), ``SURVEYS`` x 300 m square districts
   at 5 cm. Its first epoch's orthophoto is cut into one GeoTIFF per district, and each
   district is one survey (``d1`` ... ``d4``, north-west first, row by row) into one case
   register, against the world's registry: what a bureau flying a district a day gets.
2. **Simulated analyst** (:func:`simulate_reviews`), from the world's truth, as an analyst
   would judge each task on the map:
   - a task that is a true violation (the contract's matching, ``pipeline.evaluate``: IoU
     >= 0.3, a billboard within 2 m; across categories both rules must hold, so a roof
     task beside a true billboard is no match for it) is *confirmed* when its outline has
     IoU >= 0.5 with the truth, else *corrected* to the true outline; a wrong category or
     class is *relabelled* first;
   - a task that is a legal structure (half of it on legal structures of its class, or of
     the same shape: IoU >= 0.3) is *rejected* as ``permitted`` (the model saw a real
     structure: neutral for learning); a "shed" that is part of a permitted roof (a water
     tank, a stair house) is no structure of its own;
   - any other task is *rejected* as ``not_a_structure`` (a hard negative);
   - every true violation no task found is *added* with its true outline, category and class.
3. **Learn, for N surveys** (``SKYPATROL_LEARN_WORLD_N``, default 1, 2, 4): a copy of the
   register gets the reviews of the first N surveys and the shipped model is fine-tuned on
   them (``LearnConfig``: 12 epochs, lr0 0.001, its 100 m-block held-out share judging the
   promotion; ``SKYPATROL_LEARN_WORLD_REPLAY`` synthetic classic tiles per reviewed tile
   rehearsed with them, default 0).
4. **Judge** the shipped card and each fine-tuned card (promoted or not) on the held-out
   village worlds (``benchmarks.bench_crossworld.HELD_OUT["village"]``, the first
   ``SKYPATROL_LEARN_WORLD_EVAL`` of them, default all 6): the whole survey job on both
   epochs, task precision and recall per category, area found / true, resolved — the
   cross-world benchmark's figures, pooled.

Result: ``benchmarks/results/learn-world.json`` (``learn-world-replay.json`` with replay):
reviews per action for each N, fine-tune time on this machine, learn's own held-out
judgement, old vs new pooled figures. Work files go to ``SKYPATROL_LEARN_WORLD_WORK``
(default ``runs/bench-learn-world``) with ``progress.json`` after each step. Rerun::

    YOLO_OFFLINE=true .venv/bin/python -m benchmarks learn-world
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from benchmarks.bench_learn import polygons
from benchmarks.common import machine

#: The village world whose districts are surveyed and reviewed (fixed before any run).
REVIEW_SEED = 23000
RENDERER = "village"
DISTRICT_M = 300.0
SURVEYS = 4
DEFAULT_N = (1, 2, 4)
REVIEWER = "bench-truth-analyst"
#: A matched task is confirmed at this IoU with the true outline, corrected below it.
CONFIRM_IOU = 0.5
#: A task lying this share on a legal structure of its kind is that (permitted) structure.
ON_LEGAL = 0.5
#: The register refuses outlines (parts) smaller than this, m².
MIN_OUTLINE_M2 = 0.05


def simulate_reviews(tasks: gpd.GeoDataFrame, violations: gpd.GeoDataFrame,
                     objects: gpd.GeoDataFrame, survey_id: str, area: BaseGeometry,
                     registry: Any) -> list[Any]:
    """The analyst's reviews of one survey's tasks, from the world's truth (module doc, 2)."""
    from pipeline.diff import locate
    from pipeline.evaluate import MATCH_IOU, _same, iou
    from pipeline.reviews import CLASSES, Review, added_task_id

    # a violation belongs to the district holding its representative point (one survey each)
    truth = violations[violations.representative_point().within(area)].reset_index(drop=True)
    pairs = []
    for i, t in enumerate(tasks.itertuples()):
        for j in truth.sindex.query(t.geometry.buffer(2.0), predicate="intersects"):
            v = truth.iloc[int(j)]
            # each category's rule must hold: a roof task within 2 m of a true billboard
            # is no match for it (the billboard rule alone is a distance)
            if _same(t.geometry, v.geometry, str(v.category)) and \
                    _same(t.geometry, v.geometry, str(t.category)):
                pairs.append((iou(t.geometry, v.geometry), t.category == v.category, i, int(j)))
    match: dict[int, int] = {}
    used: set[int] = set()
    for _, _, i, j in sorted(pairs, key=lambda p: (p[1], p[0]), reverse=True):
        if i not in match and j not in used:
            match[i] = j
            used.add(j)
    legal = objects[(objects.category == "legal") & objects.intersects(area)]
    out: list[Any] = []
    for i, t in enumerate(tasks.itertuples()):
        base = {"task_id": t.task_id, "survey_id": survey_id, "reviewer": REVIEWER}
        if i in match:
            v = truth.iloc[match[i]]
            if (t.category, t.object_class) != (v.category, v.object_class) and \
                    v.object_class in CLASSES.get(v.category, ()):
                out.append(Review(**base, action="relabel", category=str(v.category),
                                  object_class=str(v.object_class)))
            g = polygons(v.geometry, MIN_OUTLINE_M2)
            if v.category == "illegal_billboard" or g is None or \
                    iou(t.geometry, v.geometry) >= CONFIRM_IOU:
                out.append(Review(**base, action="confirm"))
            else:
                out.append(Review(**base, action="correct", geometry=g))
            continue
        # the legal structure itself (its class, or the same shape), not a part of one: a
        # "shed" that is a water tank on a permitted roof is no structure of its own
        mine = legal.iloc[legal.sindex.query(t.geometry, predicate="intersects")]
        shape = np.array([iou(g, t.geometry) >= MATCH_IOU for g in mine.geometry], bool)
        same = mine[(mine.object_class == t.object_class).to_numpy() | shape]
        on = same.geometry.intersection(t.geometry).area.sum()
        out.append(Review(**base, action="reject", reason="permitted"
                          if on >= ON_LEGAL * t.geometry.area else "not_a_structure"))
    for j, v in truth.iterrows():
        g = polygons(v.geometry, MIN_OUTLINE_M2)
        if j in used or g is None or v.object_class not in CLASSES.get(v.category, ()):
            continue
        parcel, district, squad = locate(g, registry)
        out.append(Review(task_id=added_task_id(survey_id, str(v.category), g),
                          survey_id=survey_id, action="add", reviewer=REVIEWER,
                          category=str(v.category), object_class=str(v.object_class),
                          geometry=g, parcel_id=parcel, district=district, squad=squad))
    return out


def cut_districts(ortho: Path, out: Path, side_m: float) -> list[tuple[Path, BaseGeometry]]:
    """The orthophoto cut into square districts (GeoTIFFs), north-west first, row by row."""
    import rasterio
    from rasterio.windows import Window, bounds

    out.mkdir(parents=True, exist_ok=True)
    made: list[tuple[Path, BaseGeometry]] = []
    with rasterio.open(ortho) as src:
        step = int(round(side_m / abs(src.transform.a)))
        for r in range(src.height // step):
            for c in range(src.width // step):
                win = Window(c * step, r * step, step, step)
                profile = src.profile | {"width": step, "height": step, "tiled": True,
                                         "blockxsize": 512, "blockysize": 512,
                                         "transform": src.window_transform(win)}
                path = out / f"d{len(made) + 1}.tif"
                with rasterio.open(path, "w", **profile) as dst:
                    dst.write(src.read(window=win))
                made.append((path, shapely.box(*bounds(win, src.transform))))
    return made


def evaluate(card: str | None, seeds: tuple[int, ...]) -> dict[str, Any]:
    """A card's pooled survey accuracy on held-out village worlds (the cross-world figures)."""
    from benchmarks.bench_crossworld import pooled
    from benchmarks.common import run_child

    t0 = time.perf_counter()
    worlds = [run_child("benchmarks.bench_crossworld", RENDERER, str(s),
                        *(["--model", card] if card else [])) for s in seeds]
    return {"pooled": pooled(worlds, "default checks"), "seeds": list(seeds),
            "eval_s": round(time.perf_counter() - t0, 1)}


def run() -> dict[str, Any]:
    from benchmarks.bench_crossworld import HELD_OUT
    from geodata.synthetic import WorldConfig, synthesize
    from pipeline.cases import read_register, record_review, register_crs
    from pipeline.learn import LearnConfig, learn_from_reviews
    from pipeline.survey import SurveySpec, load_registry, run_survey

    work = Path(os.environ.get("SKYPATROL_LEARN_WORLD_WORK", "runs/bench-learn-world"))
    ns = tuple(int(v) for v in os.environ.get("SKYPATROL_LEARN_WORLD_N", "").split(",") if v) \
        or DEFAULT_N
    n_eval = int(os.environ.get("SKYPATROL_LEARN_WORLD_EVAL", str(len(HELD_OUT[RENDERER]))))
    seeds = HELD_OUT[RENDERER][:n_eval]
    cfg = LearnConfig(replay=float(os.environ.get("SKYPATROL_LEARN_WORLD_REPLAY", "0")))
    out: dict[str, Any] = {
        "benchmark": "learn-world",
        "date": dt.date.today().isoformat(),
        "base_model": "shipped (trained on classic worlds only)",
        "review_world": {"renderer": RENDERER, "seed": REVIEW_SEED, "districts": SURVEYS,
                         "district_m": DISTRICT_M, "gsd_cm": 5.0, "epoch": 1},
        "note": "the shipped (classic-only) model fine-tuned on reviews of N village surveys "
                "(reviews simulated from the world's truth), both models judged on held-out "
                "village worlds no model or check was trained or tuned on",
        "machine": machine(),
        "config": {"learn": {"epochs": cfg.epochs, "lr0": cfg.lr0, "batch": cfg.batch,
                             "held_out_share": cfg.held_out_share, "block_m": cfg.block_m,
                             "replay": cfg.replay},
                   "confirm_iou": CONFIRM_IOU, "on_legal": ON_LEGAL},
    }
    if cfg.replay:  # the reviews-only figures stay in learn-world.json
        out["results_file"] = "learn-world-replay"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    def save() -> None:
        (work / "progress.json").write_text(json.dumps(out, indent=1, default=str),
            encoding="utf-8")

    # 1. the review world, cut into districts, each one survey
    side = DISTRICT_M * math.ceil(math.sqrt(SURVEYS))  # a square of districts
    res = synthesize(work / "world", WorldConfig(size_m=side, seed=REVIEW_SEED,
                                                 renderer=RENDERER), frames=False)
    date = dt.date.fromisoformat(json.loads(
        (work / "world" / "world.json").read_text(encoding="utf-8"))
                                 ["survey_dates"][0])
    districts = cut_districts(res.orthos[0], work / "districts", DISTRICT_M)[:SURVEYS]
    if len(districts) != SURVEYS:
        raise RuntimeError(f"the review world gave {len(districts)} districts, not {SURVEYS}")
    base = work / "surveyed.gpkg"
    t0 = time.perf_counter()
    for k, (path, _) in enumerate(districts, start=1):
        run_survey(SurveySpec((str(path),), res.registry, work / "surveys" / f"d{k}",
                              cases=base, survey_id=f"d{k}", survey_date=date))
    out["survey_s"] = round(time.perf_counter() - t0, 1)
    registry = load_registry(res.registry)
    layers = read_register(base, register_crs(base) or registry.crs)
    obs = layers["observations"]
    violations = gpd.read_file(res.truths[0], layer="violations")
    objects = gpd.read_file(res.truths[0], layer="objects")
    reviews: dict[str, list[Any]] = {}
    for k, (_, area) in enumerate(districts, start=1):
        sid = f"d{k}"
        tasks = obs[obs.survey_id == sid].reset_index(drop=True)
        reviews[sid] = simulate_reviews(tasks, violations, objects, sid, area, registry)
    out["reviews"] = {sid: dict(Counter(r.action if r.action != "reject" else
                                        f"reject:{r.reason}" for r in rs))
                      for sid, rs in reviews.items()}
    save()
    # 2. the shipped model on the held-out worlds (does not depend on N)
    old = evaluate(None, seeds)
    out["evaluation_old"] = old["pooled"]
    out["eval_s_per_card"] = old["eval_s"]
    save()
    out["runs"] = {}
    for n in ns:
        run_n: dict[str, Any] = {"surveys": n}
        reg = work / f"n{n}" / "cases.gpkg"
        reg.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base, reg)
        t0 = time.perf_counter()
        chosen = [r for sid in list(reviews)[:n] for r in reviews[sid]]
        for r in chosen:
            record_review(reg, r)
        run_n["reviews"] = len(chosen)
        run_n["record_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        rep = learn_from_reviews(reg, work / f"n{n}" / "learn", cfg=cfg)
        run_n.update(learn_s=round(time.perf_counter() - t0, 1), fine_tune_s=rep["fine_tune_s"],
                     train_tiles=rep["train_tiles"], held_out_tiles=rep["held_out_tiles"],
                     replay_tiles=rep["replay_tiles"],
                     reviewed_sites=rep["reviewed_sites"], learn_held_out=rep["held_out"],
                     promoted=rep["promoted"], card=rep["card"])
        new = evaluate(rep["card"], seeds)
        run_n["evaluation_new"] = new["pooled"]
        out["runs"][str(n)] = run_n
        save()
    return out
