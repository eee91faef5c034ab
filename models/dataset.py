"""Training data from synthetic worlds: tiles at the model's GSD with YOLO segmentation labels."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from geodata.synthetic.kinds import renderer_for, scene_for
from geodata.synthetic.scene import RENDERERS, WorldConfig

#: Model classes (ASCII names: ultralytics fetches a Unicode font for non-ASCII ones).
CLASSES = ("building", "shed", "billboard")
CLASS_ID = {name: i for i, name in enumerate(CLASSES)}
#: Ground the model must learn is not a roof.
HARD_GROUND = frozenset({"water", "soil", "asphalt", "paving"})


@dataclass(frozen=True)
class DatasetConfig:
    """How to cut a synthetic training set.

    Attributes:
        seeds: world seeds (never reuse evaluation seeds here).
        size_m: side of each world, metres.
        gsd_cm: the model's ground sample distance, cm per pixel.
        imgsz: tile side in pixels.
        tiles_per_epoch: tiles cut from each world epoch.
        source_gsd_cm: range of GSDs the world is rendered at before resampling to the
            model's GSD, so the model sees the resampling the pipeline does.
        empty_fraction: share of tiles placed at random (many hold no object at all).
        min_visible: a clipped object is labelled when this fraction of it, or 4 m², is visible.
        hard_fraction: share of tiles centred on what the model mistakes for structures: water,
            bare soil, large paved or asphalt lots, and big corrugated-roof buildings (which
            are not sheds).
        jpeg_quality: range of JPEG qualities the tiles are saved at (drone orthophotos are
            JPEG-compressed too; a lower range makes a smaller dataset to move).
        renderers: the world generators (``classic``, ``village``, see
            ``geodata.synthetic.kinds``). With several, the training seeds take them in
            turn and every validation seed is drawn by each, so both splits hold every
            generator's worlds.

    """

    seeds: tuple[int, ...] = tuple(range(1000, 1012))
    size_m: float = 240.0
    gsd_cm: float = 10.0
    imgsz: int = 384
    tiles_per_epoch: int = 60
    source_gsd_cm: tuple[float, float] = (3.5, 9.0)
    empty_fraction: float = 0.3
    min_visible: float = 0.3
    hard_fraction: float = 0.15
    epochs: int = 2
    violation_density: tuple[float, float] = (1.5, 4.0)
    jpeg_quality: tuple[int, int] = (80, 96)
    extra: dict[str, str] = field(default_factory=dict)
    renderers: tuple[str, ...] = ("classic",)

    def __post_init__(self) -> None:
        if not self.renderers or set(self.renderers) - set(RENDERERS):
            raise ValueError(f"renderers must be some of {', '.join(RENDERERS)}, "
                             f"got {', '.join(self.renderers) or 'none'}")
        if self.imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32, got {self.imgsz}")
        if not self.seeds:
            raise ValueError("at least one seed is needed")


def polygon_to_label(poly: Polygon, left: float, top: float, tile_m: float) -> list[float]:
    """Normalised YOLO polygon (x1 y1 x2 y2 ...) of a world polygon in a tile's frame."""
    xy = np.asarray(poly.exterior.coords)[:-1]
    u = np.clip((xy[:, 0] - left) / tile_m, 0, 1)
    v = np.clip((top - xy[:, 1]) / tile_m, 0, 1)
    return [float(c) for pair in zip(u, v) for c in pair]


def tile_labels(
    objects: Sequence[tuple[str, Polygon]], left: float, top: float, tile_m: float,
    min_visible: float,
) -> list[str]:
    """YOLO-seg label lines for the objects visible in one tile."""
    frame = box(left, top - tile_m, left + tile_m, top)
    lines = []
    for cls, poly in objects:
        if not poly.intersects(frame):
            continue
        clip: BaseGeometry = poly.intersection(frame)
        if clip.is_empty or clip.area < min(4.0, poly.area * min_visible):
            continue
        parts = [clip] if isinstance(clip, Polygon) else [
            g for g in getattr(clip, "geoms", []) if isinstance(g, Polygon)
        ]
        for part in parts:
            if part.area < 0.5:
                continue
            coords = polygon_to_label(part.simplify(0.02), left, top, tile_m)
            if len(coords) >= 6:
                lines.append(f"{CLASS_ID[cls]} " + " ".join(f"{c:.6f}" for c in coords))
    return lines


def build_dataset(
    out: Path | str,
    config: DatasetConfig,
    *,
    val_seeds: Sequence[int] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render tiles and labels into ``out/images/{train,val}`` and ``out/labels/...``.

    Returns the path of the ``data.yaml`` ultralytics trains from.
    """
    root = Path(out)
    jobs = [("train", s, config.renderers[k % len(config.renderers)])
            for k, s in enumerate(config.seeds)]
    jobs += [("val", s, r) for s in val_seeds for r in config.renderers]
    gsd = config.gsd_cm / 100.0
    tile_m = config.imgsz * gsd
    stats = {"train": {"tiles": 0, "objects": dict.fromkeys(CLASSES, 0)},
             "val": {"tiles": 0, "objects": dict.fromkeys(CLASSES, 0)}}
    for n_job, (split, seed, drawn_by) in enumerate(jobs):
        rng = np.random.default_rng([seed, 31337])
        density = float(rng.uniform(*config.violation_density))
        world = WorldConfig(size_m=config.size_m, seed=seed, epochs=config.epochs,
                            violation_density=density, renderer=drawn_by)
        scene = scene_for(world)
        (img_dir := root / "images" / split).mkdir(parents=True, exist_ok=True)
        (lbl_dir := root / "labels" / split).mkdir(parents=True, exist_ok=True)
        x0, y0, x1, y1 = scene.bounds
        for epoch in range(1, config.epochs + 1):
            renderer = renderer_for(scene, epoch)
            objects = [
                (t.object_class, fp)
                for t in scene.things
                if t.object_class in CLASS_ID and (fp := t.footprint(epoch)) is not None
            ]
            small = [o for o in objects if o[0] != "building"]
            hard = [g.geometry for g in scene.ground
                    if g.material in HARD_GROUND and (g.epochs is None or epoch in g.epochs)
                    and g.geometry.area >= 150]
            hard += [fp for cls, fp in objects if cls == "building" and fp.area >= 400]
            for k in range(config.tiles_per_epoch):
                r = rng.random()
                if hard and rng.random() < config.hard_fraction:
                    g = hard[int(rng.integers(0, len(hard)))]
                    gx0, gy0, gx1, gy1 = g.bounds
                    for _ in range(20):  # a point inside the surface, not just its box
                        cx, cy = rng.uniform(gx0, gx1), rng.uniform(gy0, gy1)
                        if g.contains(Point(cx, cy)):
                            break
                elif r < config.empty_fraction or not objects:
                    cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
                else:
                    pool = small if (small and r < 0.75) else objects
                    c = pool[int(rng.integers(0, len(pool)))][1].centroid
                    cx = c.x + rng.uniform(-0.4, 0.4) * tile_m
                    cy = c.y + rng.uniform(-0.4, 0.4) * tile_m
                left = float(np.clip(cx - tile_m / 2, x0, x1 - tile_m))
                top = float(np.clip(cy + tile_m / 2, y0 + tile_m, y1))
                src_gsd = float(rng.uniform(*config.source_gsd_cm)) / 100.0
                n_src = int(math.ceil(tile_m / src_gsd))
                img = renderer.render(left, top, tile_m / n_src, n_src, n_src)
                img = cv2.resize(img, (config.imgsz, config.imgsz), interpolation=cv2.INTER_AREA)
                name = f"{drawn_by}{seed}_e{epoch}_{k:04d}"
                cv2.imwrite(str(img_dir / f"{name}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY,
                             int(rng.integers(*config.jpeg_quality))])
                lines = tile_labels(objects, left, top, tile_m, config.min_visible)
                (lbl_dir / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""),
                    encoding="utf-8")
                stats[split]["tiles"] += 1  # type: ignore[operator]
                for line in lines:
                    stats[split]["objects"][CLASSES[int(line.split()[0])]] += 1  # type: ignore[index]
        if progress is not None:
            progress(n_job + 1, len(jobs))
    data_yaml = root / "data.yaml"
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(CLASSES))
    val = "images/val" if val_seeds else "images/train"
    data_yaml.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: {val}\n"
                         f"names:\n{names}\n", encoding="utf-8")
    meta = {"config": asdict(config), "val_seeds": list(val_seeds), "stats": stats}
    (root / "dataset.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return data_yaml


def split_folders(data_yaml: Path | str, split: str) -> list[Path]:
    """The image folders of one split (``train``, ``val``) of a YOLO ``data.yaml``.

    A split may name one folder or a list (a combined synthetic + real set); relative
    folders are under the yaml's ``path``, itself relative to the yaml's folder.
    """
    import yaml

    p = Path(data_yaml)
    spec = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    root = Path(spec.get("path") or p.parent)
    if not root.is_absolute():
        root = p.parent / root
    value = spec.get(split) or []
    return [root / str(v) for v in ([value] if isinstance(value, str) else value)]
