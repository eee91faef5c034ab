"""Learning from reviews: the bureau's own imagery, as its analysts judged it, teaches the model.

``skypatrol train --from-reviews CASES`` (and ``flows.train.learn_flow`` on a schedule):

1. **Dataset.** Every reviewed site gives one tile of its survey's imagery at the model's GSD
   and tile size, centred on it. The tile's labels are the current model's own detections
   (pseudo-labels: a survey's register holds only violations, not the permitted buildings
   around them, which must stay labelled as buildings) corrected by every review inside it:
   - ``correct`` / ``add``: the analyst's outline becomes the object (it replaces the
     detections it covers; one it lies within, as an extension lies within its building,
     is grown by it);
   - ``relabel``: the detections of the site take the analyst's class;
   - ``reject`` as not a structure or temporary: the detections of the site are removed (a
     hard negative) — the finding itself, not a structure more than twice its size that it
     lay on (a parapet read as a billboard stays a building). Rejections as permitted or
     duplicate say nothing about the model and leave the tile as it is.
   Classes the model does not have (``cleared_ground``, found by a pixel rule) give no label.
2. **Held-out reviews.** Sites are split by 100 m blocks of ground (a hash of the block, so
   a tile of the training part never shows a held-out site): ``held_out_share`` of the
   blocks are kept out of the fine-tune and judge both models.
3. **Fine-tune** the current model's weights on the training tiles (a low learning rate).
   With ``replay`` > 0, fully labelled tiles of fresh synthetic worlds of the parent's own
   generators (its card's training record; seeds from ``replay_seed``, which no training or
   evaluation set uses) join the training split, ``replay`` of them for each reviewed
   tile: rehearsal, so that a fine-tune on reviews — mostly rejections, and no labels for
   the permitted structures around the violations — does not unlearn what a roof is.
4. **Judge and promote.** Both models detect on the held-out tiles; a reviewed positive is
   found when detections cover half its outline, a rejected one is a false finding when they
   do. The new model is promoted only when neither its recall nor its precision on the
   held-out reviews is lower and one of them is higher; its card records its lineage (parent
   model, review counts, both models' held-out figures).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geodata.errors import InputError
from pipeline.cases import read_register, register_crs
from pipeline.register_pg import register_ref
from pipeline.reviews import fold, reviewed_areas

#: Rejections that say the model saw a structure where there is none.
NEGATIVE_REASONS = ("not_a_structure", "temporary")
POSITIVE = ("confirmed", "corrected", "relabelled", "added")


@dataclass(frozen=True)
class LearnConfig:
    """How reviews become a fine-tuned model.

    Attributes:
        held_out_share: share of the 100 m ground blocks whose sites judge the models.
        block_m: side of the ground blocks of the split, metres.
        epochs, lr0, batch: the fine-tune (AdamW at ``lr0``).
        context_m: how far around the reviewed sites a tile shows its imagery; beyond it
            the tile is grey (ultralytics' padding value), so the structures nobody reviewed
            there are neither labels nor background.
        min_sites: fewer reviewed sites than this is too little to learn from.
        device: ``cpu`` or a CUDA index.
        replay: synthetic tiles of the parent's generators per reviewed training tile
            (0: reviews only); ``replay_seed`` is the first of their world seeds.

    """

    held_out_share: float = 0.25
    block_m: float = 100.0
    epochs: int = 12
    lr0: float = 0.001
    batch: int = 8
    min_sites: int = 4
    device: str = "cpu"
    context_m: float = 4.0
    replay: float = 0.0
    replay_seed: int = 7000


@dataclass
class Site:
    """One reviewed site and what the review makes of it."""

    task_id: str
    survey_id: str
    verdict: str  # positive, negative, or neutral (a rejection that says nothing of the model)
    object_class: str | None
    geometry: BaseGeometry
    review: str
    held_out: bool = False
    tile: str = ""


@dataclass
class Judgement:
    """A model's figures on the held-out reviewed sites."""

    positives: int = 0
    found: int = 0
    negatives: int = 0
    false_findings: int = 0
    ground_false_findings: int = 0
    recall: float = 0.0
    precision: float = 0.0
    per_site: dict[str, bool] = field(default_factory=dict)


def held_out(geom: BaseGeometry, cfg: LearnConfig) -> bool:
    """Whether a site's 100 m block of ground is in the held-out share (a fixed hash)."""
    p = geom.representative_point()
    key = f"{int(p.x // cfg.block_m)}:{int(p.y // cfg.block_m)}"
    h = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < cfg.held_out_share


def reviewed_sites(layers: dict[str, Any], cfg: LearnConfig) -> list[Site]:
    """Every reviewed site with its verdict, outline and class, split train / held out."""
    state = fold(layers["reviews"])
    obs = layers["observations"]
    sites = []
    for tid, s in state.items():
        mine = obs[obs.task_id == tid].sort_values(["survey_date", "survey_id"])
        survey = str(s["geometry_survey"] or s["survey_id"])
        seen = mine[mine.survey_id == survey]
        geom = s["geometry"] if s["geometry"] is not None else (
            seen.geometry.iloc[-1] if len(seen) else
            (mine.geometry.iloc[-1] if len(mine) else None))
        if geom is None or geom.is_empty:
            continue
        cls = s["object_class"] or (str(mine.object_class.iloc[-1]) if len(mine) else None)
        if s["review"] in POSITIVE:
            verdict = "positive"
        elif s["review"] == "rejected" and s["reason"] in NEGATIVE_REASONS:
            verdict = "negative"
        else:
            verdict = "neutral"
        sites.append(Site(tid, survey, verdict, cls, geom, str(s["review"]),
                          held_out(geom, cfg)))
    return sites


def cut_tile(raster: str, centre: BaseGeometry, crs: Any, gsd_m: float, px: int
             ) -> tuple[np.ndarray, tuple[float, float]] | None:
    """An RGB tile of ``px`` pixels at ``gsd_m`` centred on ``centre``, and its corner.

    The corner is the tile's top left in the register's CRS. None when the raster does not
    hold the centre.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.windows import from_bounds

    half = px * gsd_m / 2
    c = centre.representative_point()
    left, top = c.x - half, c.y + half
    try:
        src = rasterio.open(raster)
    except rasterio.errors.RasterioIOError:
        return None
    with src:
        ds = src if CRS.from_user_input(src.crs) == CRS.from_user_input(crs) else \
            WarpedVRT(src, crs=crs)
        with ds:
            b = ds.bounds
            if not (b.left <= c.x <= b.right and b.bottom <= c.y <= b.top):
                return None
            win = from_bounds(left, top - 2 * half, left + 2 * half, top, ds.transform)
            data = ds.read((1, 2, 3), window=win, out_shape=(3, px, px), boundless=True,
                           fill_value=0, resampling=Resampling.average)
    if not data.any():
        return None
    return np.ascontiguousarray(np.moveaxis(data, 0, 2)), (left, top)


def _to_px(geom: BaseGeometry, corner: tuple[float, float], gsd_m: float) -> BaseGeometry:
    left, top = corner
    return shapely.transform(geom, lambda xy: np.column_stack(
        [(xy[:, 0] - left) / gsd_m, (top - xy[:, 1]) / gsd_m]))


def predict(model: Any, rgb: np.ndarray, card: Any) -> list[tuple[str, BaseGeometry]]:
    """The model's detections on one tile: (class, polygon in tile pixels), card thresholds."""
    r: Any = list(model.predict(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), imgsz=card.imgsz,
                                conf=card.min_score, verbose=False, retina_masks=True))[0]
    out: list[tuple[str, BaseGeometry]] = []
    if r.masks is None:
        return out
    for cls_i, score, xy in zip(np.asarray(r.boxes.cls).astype(int),
                                np.asarray(r.boxes.conf), r.masks.xy):
        name = card.classes[cls_i]
        if score < card.threshold(name) or len(xy) < 3:
            continue
        poly = shapely.make_valid(shapely.Polygon(xy))
        if poly.area > 1:
            out.append((name, poly))
    return out


def _covers(a: BaseGeometry, site: BaseGeometry, share: float = 0.5) -> bool:
    return a.intersects(site) and a.intersection(site).area >= share * site.area


#: A detection more than this many times a rejected site's area is a structure the false
#: finding lay on (a parapet read as a billboard, a roof's corner as a shed), not the finding.
ON_LARGER = 2.0


def _is_finding(d: BaseGeometry, site: BaseGeometry) -> bool:
    """Whether a detection is the (rejected) finding at ``site``.

    It is when it lies mostly within the site, or covers it without being a much larger
    structure under it.
    """
    return _covers(site, d) or (_covers(d, site) and d.area <= ON_LARGER * site.area)


def _is_marked(d: BaseGeometry, marked: Sequence[BaseGeometry]) -> bool:
    """Whether a detection is one of the reviewed structures (overlaps a fifth of either)."""
    return any(d.intersects(g) and d.intersection(g).area >= 0.2 * min(d.area, g.area)
               for g in marked)


def tile_labels(detections: list[tuple[str, BaseGeometry]], sites: Sequence[Site],
                corner: tuple[float, float], gsd_m: float, classes: Sequence[str]
                ) -> list[tuple[str, BaseGeometry]]:
    """The tile's labels: the detections corrected by every review inside the tile."""
    labels = list(detections)
    for s in sites:
        g = shapely.make_valid(_to_px(s.geometry, corner, gsd_m))
        if g.is_empty:
            continue
        if s.verdict == "negative":  # the false finding goes; a structure it lay on stays
            labels = [(c, d) for c, d in labels if not _is_finding(d, g)]
            continue
        if s.verdict != "positive":
            continue
        cls = s.object_class if s.object_class in classes else None
        if s.review in ("corrected", "added"):
            inside = [(c, d) for c, d in labels if _covers(d, g, 0.9) and d.area > 1.5 * g.area]
            if inside:  # an extension of a larger structure: that structure grows by it
                c0, d0 = max(inside, key=lambda t: t[1].area)
                labels = [(c, d) for c, d in labels if d is not d0]
                labels.append((c0, shapely.union(d0, g)))
            else:  # the object itself: it replaces the detections it covers
                labels = [(c, d) for c, d in labels if not _covers(g, d)]
                if cls is not None:
                    labels.append((cls, g))
        elif s.review == "relabelled" and cls is not None:
            labels = [(cls if _covers(d, g) else c, d) for c, d in labels]
        if cls is not None and not any(_covers(d, g) for _, d in labels):
            labels.append((cls, g))  # a confirmed structure the parent misses on this tile
    return labels


def reviewed_ground(sites: Sequence[Site], corner: tuple[float, float], gsd_m: float,
                    context_m: float) -> BaseGeometry:
    """The part of a tile the reviews speak for (tile pixels): the sites and their margin."""
    return shapely.union_all([_to_px(s.geometry.buffer(context_m), corner, gsd_m)
                              for s in sites if s.verdict != "neutral"])


GREY = 114  # ultralytics' letterbox padding: "no image here"


def mask_unreviewed(rgb: np.ndarray, keep: BaseGeometry) -> np.ndarray:
    """The tile with the ground outside ``keep`` grey."""
    from rasterio.features import rasterize

    inside = rasterize([keep], out_shape=rgb.shape[:2], fill=0, default_value=1,
                       dtype="uint8").astype(bool) if not keep.is_empty else \
        np.zeros(rgb.shape[:2], bool)
    out = rgb.copy()
    out[~inside] = GREY
    return out


def _label_lines(labels: list[tuple[str, BaseGeometry]], classes: Sequence[str],
                 px: int) -> list[str]:
    frame = shapely.box(0, 0, px, px)
    lines = []
    for cls, g in labels:
        g = g.intersection(frame)
        parts = getattr(g, "geoms", [g])
        for part in parts:
            if part.geom_type != "Polygon" or part.area < 4:
                continue
            xy = np.asarray(part.exterior.coords)[:-1] / px
            lines.append(" ".join([str(classes.index(cls)),
                                   *(f"{v:.5f}" for v in xy.clip(0, 1).ravel())]))
    return lines


@dataclass
class Area:
    """Ground an analyst marked as fully checked (every structure on it marked)."""

    survey_id: str
    geometry: BaseGeometry
    held_out: bool


@dataclass
class GroundTile:
    """A tile of reviewed ground: where it lies and the part of it the reviews speak for."""

    path: str
    corner: tuple[float, float]
    keep: BaseGeometry  # tile pixels
    held_out: bool
    sites: list[Site]


def reviewed_ground_areas(layers: dict[str, Any], cfg: LearnConfig) -> list[Area]:
    """The register's ``area`` reviews, split train / held out as the sites are."""
    return [Area(sid, g, held_out(g, cfg)) for sid, g in reviewed_areas(layers["reviews"])]


def _grid(area: BaseGeometry, side: float) -> list[BaseGeometry]:
    """Tile centres covering an area (a tile's side apart)."""
    x0, y0, x1, y1 = area.bounds
    xs = np.arange(x0 + side / 2, max(x1, x0 + side / 2) + 1e-9, side)
    ys = np.arange(y0 + side / 2, max(y1, y0 + side / 2) + 1e-9, side)
    pts = [shapely.Point(x, y) for x in xs for y in ys]
    return [p for p in pts if area.buffer(side / 2).contains(p)]


def build_dataset(layers: dict[str, Any], sites: list[Site], card_path: Path, out: Path,
                  progress: Callable[[int, int], None] | None = None,
                  context_m: float = LearnConfig.context_m,
                  areas: Sequence[Area] = ()) -> tuple[Path, list[GroundTile]]:
    """The YOLO-seg dataset of the reviewed tiles (``train`` and ``val`` = held out).

    One tile per reviewed site, and tiles covering the ground analysts marked as checked.
    Returns the data.yaml and every tile made (what judges the models on the held-out ones).
    """
    from ultralytics import YOLO

    from models.card import ModelCard

    card = ModelCard.load(card_path)
    model = YOLO(str(card.weights_path(card_path, "pt")), task="segment")
    gsd_m = card.gsd_cm / 100
    side = card.imgsz * gsd_m
    crs = layers["crs"]
    imagery = {str(r.survey_id): [p for p in str(r.imagery or "").split(";") if p]
               for r in layers["surveys"].itertuples()}
    shutil.rmtree(out, ignore_errors=True)
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True)
        (out / "labels" / split).mkdir(parents=True)
    held = [o.geometry for o in sites if o.held_out] + [a.geometry for a in areas if a.held_out]
    made: list[GroundTile] = []

    def make(name: str, survey_id: str, centre: BaseGeometry, is_held: bool) -> GroundTile | None:
        c = centre.representative_point()
        extent = shapely.box(c.x - side / 2, c.y - side / 2, c.x + side / 2, c.y + side / 2)
        if not is_held and any(g.intersects(extent) for g in held):
            return None  # a training tile must not show held-out ground
        cut = next((t for t in (cut_tile(r, c, crs, gsd_m, card.imgsz)
                                for r in imagery.get(survey_id, [])) if t is not None), None)
        if cut is None:
            return None
        rgb, corner = cut
        near = [o for o in sites if o.survey_id == survey_id
                and o.held_out == is_held and o.geometry.intersects(extent)]
        checked = [_to_px(a.geometry.intersection(extent), corner, gsd_m) for a in areas
                   if a.survey_id == survey_id and a.held_out == is_held
                   and a.geometry.intersects(extent)]
        keep = shapely.union_all([reviewed_ground(near, corner, gsd_m, context_m), *checked])
        if keep.is_empty:
            return None
        rgb = mask_unreviewed(rgb, keep)
        labels = tile_labels(predict(model, rgb, card), near, corner, gsd_m, card.classes)
        if checked:  # on ground checked whole, the reviewed structures are all there is
            whole = shapely.union_all(checked)
            marked = [_to_px(o.geometry, corner, gsd_m) for o in near if o.verdict == "positive"]
            labels = [(k, d) for k, d in labels
                      if d.intersection(whole).area < 0.5 * d.area or _is_marked(d, marked)]
        labels = [(k, d.intersection(keep)) for k, d in labels]
        split = "val" if is_held else "train"
        path = out / "images" / split / f"{name}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
        (out / "labels" / split / f"{name}.txt").write_text(
            "\n".join(_label_lines(labels, card.classes, card.imgsz)) + "\n", encoding="utf-8")
        tile = GroundTile(str(path), corner, keep, is_held, near)
        made.append(tile)
        return tile

    jobs: list[tuple[str, str, BaseGeometry, bool, Site | None]] = [
        (f"{s.survey_id}-{s.task_id}", s.survey_id, s.geometry, s.held_out, s) for s in sites]
    jobs += [(f"{a.survey_id}-area{k}-{n}", a.survey_id, p, a.held_out, None)
             for k, a in enumerate(areas) for n, p in enumerate(_grid(a.geometry, side))]
    for k, (name, survey_id, centre, is_held, site) in enumerate(jobs):
        if progress is not None:
            progress(k, len(jobs))
        tile = make(name, survey_id, centre, is_held)
        if tile is not None and site is not None:
            site.tile = tile.path
    data = out / "data.yaml"
    data.write_text("path: " + json.dumps(str(out.resolve())) + "\ntrain: images/train\n"
                    "val: images/val\nnames:\n"
                    + "".join(f"  {i}: {c}\n" for i, c in enumerate(card.classes)),
                        encoding="utf-8")
    return data, made


#: Tiles cut from each synthetic world epoch for replay.
REPLAY_TILES_PER_EPOCH = 60


def add_replay(data_yaml: Path, card: Any, tiles: int, first_seed: int,
               size_m: float = 240.0) -> int:
    """Add ``tiles`` synthetic tiles of the card's own generators to the training split.

    Worlds of seeds ``first_seed``... (``size_m`` square) are drawn at the card's GSD and
    tile size by the generators its training record names (``classic`` when it names
    none) and cut into ``replay/`` beside the reviewed tiles; ``data.yaml`` then trains on
    both folders. Returns the number of tiles added.
    """
    import yaml

    from models.dataset import DatasetConfig
    from models.dataset import build_dataset as synthetic_dataset

    if tiles <= 0:
        return 0
    renderers = tuple((card.training or {}).get("dataset", {}).get("renderers") or ("classic",))
    epochs = DatasetConfig.epochs  # survey epochs drawn per world
    worlds = math.ceil(tiles / (epochs * REPLAY_TILES_PER_EPOCH))
    per_epoch = math.ceil(tiles / (epochs * worlds))
    root = data_yaml.parent / "replay"
    shutil.rmtree(root, ignore_errors=True)
    synthetic_dataset(root, DatasetConfig(seeds=tuple(range(first_seed, first_seed + worlds)),
                                          size_m=size_m, gsd_cm=card.gsd_cm, imgsz=card.imgsz,
                                          tiles_per_epoch=per_epoch, epochs=epochs,
                                          renderers=renderers))
    spec = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    spec["train"] = [str(spec["train"]), str((root / "images" / "train").resolve())]
    data_yaml.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return len(list((root / "images" / "train").glob("*.jpg")))


def judge(card_path: Path, weights: Path, sites: Sequence[Site], gsd_m: float,
          ground: Sequence[GroundTile] = ()) -> Judgement:
    """A model's recall and precision on the held-out reviewed ground.

    Recall: the held-out reviewed structures found. Precision: those found against every
    detection on held-out reviewed ground (the sites' surroundings and the areas analysts
    checked) that is no reviewed structure — a model that calls more things structures
    where analysts looked and saw none is not better. Without ground tiles, precision counts
    the rejected sites found.
    """
    from ultralytics import YOLO

    from models.card import ModelCard

    card = ModelCard.load(card_path)
    model = YOLO(str(weights), task="segment")
    j = Judgement()
    for s in sites:
        if not s.held_out or not s.tile or s.verdict == "neutral":
            continue
        bgr = cv2.imread(s.tile)
        if bgr is None:
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        half = card.imgsz * gsd_m / 2
        c = s.geometry.representative_point()
        g = _to_px(s.geometry, (c.x - half, c.y + half), gsd_m)
        dets = [d for _, d in predict(model, rgb, card)]
        hit = any(_covers(d, g) for d in dets) if s.verdict == "positive" else \
            any(_is_finding(d, g) for d in dets)
        j.per_site[s.task_id] = hit
        if s.verdict == "positive":
            j.positives += 1
            j.found += int(hit)
        else:
            j.negatives += 1
            j.false_findings += int(hit)
    counted: list[shapely.Point] = []
    for tile in ground:
        if not tile.held_out:
            continue
        bgr = cv2.imread(tile.path)
        if bgr is None:
            continue
        found_here = [_to_px(o.geometry, tile.corner, gsd_m) for o in tile.sites
                      if o.verdict == "positive"]
        for _, d in predict(model, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), card):
            if d.intersection(tile.keep).area < 0.5 * d.area:
                continue  # on ground nobody reviewed
            if _is_marked(d, found_here):
                continue  # a reviewed structure (recall counts it)
            p = d.centroid
            at = shapely.Point(tile.corner[0] + p.x * gsd_m, tile.corner[1] - p.y * gsd_m)
            if all(at.distance(q) > 1.0 for q in counted):  # tiles overlap: count it once
                counted.append(at)
    j.ground_false_findings = len(counted)
    j.recall = round(j.found / j.positives, 4) if j.positives else 0.0
    called = j.found + (j.ground_false_findings if ground else j.false_findings)
    j.precision = round(j.found / called, 4) if called else 0.0
    return j


def better(new: Judgement, old: Judgement) -> bool:
    """Promote only when neither figure is lower and one is higher."""
    return (new.recall >= old.recall and new.precision >= old.precision
            and (new.recall > old.recall or new.precision > old.precision))


def learn_from_reviews(cases: Path | str, out: Path, base_card: Path | None = None,
                       cfg: LearnConfig | None = None,
                       progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Build the reviewed dataset, fine-tune, judge both models, promote or not.

    Returns the report (also written to ``out/learn.json``); the promoted model's card is
    ``out/model/skypatrol-seg.json``, a model that is not better stays in ``out/candidate``.

    Raises:
        InputError: the register is missing or holds too few reviewed sites.

    """
    import time

    from models.card import ModelCard
    from models.export import package_model
    from models.quantize import calibration_from_data_yaml
    from models.runtime import DEFAULT_CARD
    from models.train import TrainConfig, config_dict, train

    cfg = cfg or LearnConfig()
    ref = register_ref(cases)
    if isinstance(ref, Path) and not ref.exists():
        raise InputError(f"{ref}: case register not found")
    crs = register_crs(ref)
    if crs is None:
        raise InputError(f"{cases}: the register holds no surveys")
    layers = read_register(ref, crs)
    layers["crs"] = crs
    base = Path(base_card or DEFAULT_CARD)
    card = ModelCard.load(base)
    sites = reviewed_sites(layers, cfg)
    useful = [s for s in sites if s.verdict != "neutral"]
    if len(useful) < cfg.min_sites:
        raise InputError(f"{cases}: {len(useful)} reviewed site(s) say something about the "
                         f"model; at least {cfg.min_sites} are needed to learn from")
    out.mkdir(parents=True, exist_ok=True)
    areas = reviewed_ground_areas(layers, cfg)
    data, made = build_dataset(layers, sites, base, out / "dataset", progress, cfg.context_m,
                               areas)
    n_train = sum(not t.held_out for t in made)
    # only what says something about the model can judge it
    n_val = sum(t.held_out and (not t.sites or any(s.verdict != "neutral" for s in t.sites))
                for t in made)
    if n_train == 0 or n_val == 0:
        raise InputError(f"{cases}: the reviewed sites fall {n_train} in training and {n_val} "
                         "held out; review sites in more places (100 m blocks) to learn")
    replayed = add_replay(data, card, math.ceil(cfg.replay * n_train), cfg.replay_seed)
    tcfg = TrainConfig(model=str(card.weights_path(base, "pt")), epochs=cfg.epochs,
                       imgsz=card.imgsz, batch=cfg.batch, device=cfg.device, lr0=cfg.lr0,
                       optimizer="AdamW", warmup_epochs=1.0, patience=cfg.epochs)
    t0 = time.perf_counter()
    best = train(data, out / "run", tcfg)
    # the last epoch, not ultralytics' "best": that one is picked on the val split, which
    # here is the held-out reviews that are to judge it
    last = best.with_name("last.pt")
    best = last if last.exists() else best
    fine_tune_s = round(time.perf_counter() - t0, 1)
    gsd_m = card.gsd_cm / 100
    old = judge(base, card.weights_path(base, "pt"), sites, gsd_m, made)
    new = judge(base, best, sites, gsd_m, made)
    promoted = better(new, old)
    counts = {v: sum(s.verdict == v for s in sites) for v in ("positive", "negative", "neutral")}
    lineage = {
        "parent_model": str(base.resolve()), "parent_sha256": card.sha256,
        "register": str(cases), "reviewed_sites": counts,
        "reviewed_areas": {"count": len(areas),
                           "m2": round(sum(a.geometry.area for a in areas), 1)},
        "train_tiles": n_train, "held_out_tiles": n_val, "replay_tiles": replayed,
        "held_out": {"old": _figures(old), "new": _figures(new)},
        "promoted": promoted, "fine_tune_s": fine_tune_s, "config": asdict(cfg),
    }
    target = out / ("model" if promoted else "candidate")
    shutil.rmtree(target, ignore_errors=True)
    new_card = package_model(best, target, classes=card.classes, gsd_cm=card.gsd_cm,
                             imgsz=card.imgsz,
                             training={"train": config_dict(tcfg), "from_reviews": lineage},
                             calibration=calibration_from_data_yaml(data))
    # the parent's thresholds and offsets hold
    data_card = json.loads(new_card.read_text(encoding="utf-8"))
    data_card.update(class_score_thresholds=card.class_score_thresholds,
                     score_threshold=card.score_threshold,
                     outline_offset_m=card.outline_offset_m)
    new_card.write_text(json.dumps(data_card, indent=2) + "\n", encoding="utf-8")
    report = {"card": str(new_card), **lineage}
    (out / "learn.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _figures(j: Judgement) -> dict[str, Any]:
    return {"recall": j.recall, "precision": j.precision, "positives": j.positives,
            "found": j.found, "negatives": j.negatives, "false_findings": j.false_findings,
            "ground_false_findings": j.ground_false_findings}
