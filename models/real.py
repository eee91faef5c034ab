"""Real labelled aerial imagery: web-map tiles with building outlines, cut at the model's GSD."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import mercantile
import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Polygon, box, shape
from shapely.geometry.base import BaseGeometry

from geodata.errors import InputError
from models.dataset import CLASS_ID

#: A tile named as in RAMP/fAIr and most tile dumps: ``<anything>-<x>-<y>-<z>``.
TILE_NAME = re.compile(r"-(\d+)-(\d+)-(\d+)$")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Zoom of the parent tile that names a town (z10: about 39 km at the equator).
TOWN_ZOOM = 10
#: Ultralytics pads with this grey: padding looks like what the model already ignores.
PAD_GREY = 114
#: Earth radius of Web Mercator (EPSG:3857), metres.
_R = 6378137.0

_TO_3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)


@dataclass(frozen=True)
class RealTile:
    """One web-map tile image and its building outlines (a GeoJSON file in lon/lat)."""

    image: Path
    labels: Path
    x: int
    y: int
    z: int

    @property
    def lonlat(self) -> tuple[float, float]:
        """The tile's centre, WGS84 degrees."""
        b = mercantile.bounds(self.x, self.y, self.z)
        return (b.west + b.east) / 2, (b.south + b.north) / 2

    @property
    def town(self) -> str:
        """The z10 parent tile the tile lies in: tiles of one town share it."""
        p = mercantile.parent(mercantile.Tile(self.x, self.y, self.z), zoom=TOWN_ZOOM)
        return f"{p.z}/{p.x}/{p.y}"

    def ground_gsd_cm(self, size_px: int) -> float:
        """Ground sample distance of the tile image (Mercator metres shrink by cos(lat))."""
        merc = 2 * math.pi * _R / (2 ** self.z) / size_px
        return 100.0 * merc * math.cos(math.radians(self.lonlat[1]))


@dataclass(frozen=True)
class HoldOut:
    """A town kept out of training (and validation): every tile within ``radius_km``."""

    name: str
    lon: float
    lat: float
    radius_km: float = 25.0

    def holds(self, lon: float, lat: float) -> bool:
        """Whether a point lies in the held-out area (equirectangular distance)."""
        dx = math.radians(lon - self.lon) * math.cos(math.radians(self.lat))
        dy = math.radians(lat - self.lat)
        return 6371.0 * math.hypot(dx, dy) <= self.radius_km


#: fAIr's RAMP set: its Nepal town (Banepa area) is reserved for evaluation.
DEFAULT_HOLD_OUT = (HoldOut("nepal-banepa", 85.52, 27.63),)


@dataclass(frozen=True)
class RealDatasetConfig:
    """How real tiles become training images.

    Attributes:
        gsd_cm: the model's GSD; tiles are resampled to it.
        imgsz: the model's image size, pixels.
        hold_out: towns never written to the training or validation set.
        val_every: every n-th block of each town goes to validation (a spatial split inside
            the training towns; the held-out towns are the real test).
        max_nodata: blocks with more than this share of black (no imagery) pixels are dropped.
        min_area_m2: outlines smaller than this are dropped (mapping slips, not roofs).
        repeat: how many times each training block is written (weight against the
            synthetic set; each copy is flipped/rotated differently).

    """

    gsd_cm: float = 10.0
    imgsz: int = 384
    hold_out: tuple[HoldOut, ...] = DEFAULT_HOLD_OUT
    val_every: int = 8
    max_nodata: float = 0.25
    min_area_m2: float = 4.0
    repeat: int = 1


def find_tiles(roots: Iterable[Path | str]) -> list[RealTile]:
    """Tiles under ``roots`` named ``...-x-y-z`` that have a label file of the same stem.

    A tile with no label file is left out: OpenStreetMap data sets export labels only for
    mapped tiles, so a missing file means "not mapped", not "no buildings".
    """
    images: dict[str, Path] = {}
    labels: dict[str, Path] = {}
    for root in roots:
        r = Path(root)
        if not r.is_dir():
            raise InputError(f"{r}: not a folder of real imagery")
        for p in sorted(r.rglob("*")):
            if not p.is_file() or not TILE_NAME.search(p.stem.removesuffix(".mask")):
                continue
            if p.suffix.lower() == ".geojson":
                labels.setdefault(p.stem, p)
            elif p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith(".mask") \
                    and "mask" not in p.parent.name:
                images.setdefault(p.stem, p)
    out = []
    for stem, img in sorted(images.items()):
        if stem not in labels:
            continue
        m = TILE_NAME.search(stem)
        assert m is not None
        x, y, z = (int(v) for v in m.groups())
        out.append(RealTile(img, labels[stem], x, y, z))
    return out


def read_outlines(path: Path) -> list[Polygon]:
    """Building outlines of a label file as Web Mercator polygons (invalid ones repaired)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable GeoJSON file ({exc})") from exc
    out: list[Polygon] = []
    for feat in data.get("features", []):
        geom = feat.get("geometry")
        if not geom:
            continue
        g = shapely.transform(shape(geom), _TO_3857.transform, interleaved=False)
        if not g.is_valid:
            g = g.buffer(0)
        out += [p for p in _polygons(g) if p.area > 0]
    return out


def _polygons(g: BaseGeometry) -> list[Polygon]:
    if isinstance(g, Polygon):
        return [g]
    return [p for p in getattr(g, "geoms", []) if isinstance(p, Polygon)]


def _read_rgb(path: Path) -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        return None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@dataclass
class Block:
    """A square of k×k neighbouring tiles of one zoom, assembled and resampled."""

    town: str
    z: int
    x0: int
    y0: int
    k: int
    tiles: dict[tuple[int, int], RealTile] = field(default_factory=dict)

    @property
    def bounds_3857(self) -> tuple[float, float, float, float]:
        """West, south, east, north of the block in Web Mercator metres."""
        a = mercantile.xy_bounds(self.x0, self.y0, self.z)
        b = mercantile.xy_bounds(self.x0 + self.k - 1, self.y0 + self.k - 1, self.z)
        return a.left, b.bottom, b.right, a.top


def blocks_of(tiles: Sequence[RealTile], gsd_cm: float, imgsz: int) -> list[Block]:
    """Group tiles into blocks as large as fit into one model image at the model's GSD."""
    groups: dict[tuple[str, int, int, int], Block] = {}
    for t in tiles:
        # the tile's ground size at this latitude, and how many fit across one image
        ground_m = 256 * t.ground_gsd_cm(256) / 100.0
        k = max(1, int(imgsz * gsd_cm / 100.0 // ground_m))
        key = (t.town, t.z, t.x // k, t.y // k)
        blk = groups.setdefault(key, Block(t.town, t.z, (t.x // k) * k, (t.y // k) * k, k))
        blk.tiles[(t.x - blk.x0, t.y - blk.y0)] = t
    return list(groups.values())


def render_block(block: Block, gsd_cm: float,
                 imgsz: int) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The block as RGB at the model's GSD, its valid-pixel mask and Mercator m per pixel.

    Returns ``None`` when none of its images can be read. The image is at most ``imgsz``
    square (larger blocks are cut by the caller); missing tiles are filled with ``PAD_GREY``.
    """
    first = next(iter(block.tiles.values()))
    src = None
    n = 0
    for (i, j), t in block.tiles.items():
        img = _read_rgb(t.image)
        if img is None:
            continue
        if src is None:
            n = img.shape[0]
            src = np.full((n * block.k, n * block.k, 3), PAD_GREY, np.uint8)
            valid = np.zeros((n * block.k, n * block.k), bool)
        if img.shape[:2] != (n, n):
            img = cv2.resize(img, (n, n), interpolation=cv2.INTER_AREA)
        src[j * n:(j + 1) * n, i * n:(i + 1) * n] = img
        valid[j * n:(j + 1) * n, i * n:(i + 1) * n] = True
    if src is None:
        return None
    merc_px = 2 * math.pi * _R / (2 ** block.z) / n
    cos = math.cos(math.radians(first.lonlat[1]))
    scale = (merc_px * cos * 100.0) / gsd_cm  # output pixels per source pixel
    size = max(1, round(src.shape[0] * scale))
    img = cv2.resize(src, (size, size), interpolation=cv2.INTER_AREA if scale < 1
                     else cv2.INTER_LINEAR)
    ok = cv2.resize(valid.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
    return img, ok, merc_px / scale


def block_labels(outlines: Sequence[Polygon], left: float, top: float, merc_px: float,
                 imgsz: int, min_area_m2: float, cos_lat: float) -> list[str]:
    """YOLO-seg lines (class ``building``) for outlines inside an ``imgsz`` window."""
    side = merc_px * imgsz
    frame = box(left, top - side, left + side, top)
    lines = []
    for poly in outlines:
        if not poly.intersects(frame):
            continue
        clip = poly.intersection(frame)
        for part in _polygons(clip):
            if part.area * cos_lat ** 2 < min_area_m2:
                continue
            xy = np.asarray(part.simplify(merc_px * 0.3).exterior.coords)[:-1]
            if len(xy) < 3:
                continue
            u = np.clip((xy[:, 0] - left) / side, 0, 1)
            v = np.clip((top - xy[:, 1]) / side, 0, 1)
            coords = " ".join(f"{c:.6f}" for pair in zip(u, v) for c in pair)
            lines.append(f"{CLASS_ID['building']} {coords}")
    return lines


def build_real_dataset(roots: Sequence[Path | str], out: Path | str,
                       config: RealDatasetConfig) -> dict[str, Any]:
    """Write real training/validation images and labels under ``out``; returns the stats.

    Layout as the synthetic builder's: ``out/images/{train,val}``, ``out/labels/{...}``, and
    ``out/real.json`` with the towns used, the held-out towns and the counts.
    """
    root = Path(out)
    tiles = find_tiles(roots)
    if not tiles:
        raise InputError(f"{', '.join(map(str, roots))}: no image tiles named ...-x-y-z "
                         "with a GeoJSON label file of the same name")
    kept = [t for t in tiles if not any(h.holds(*t.lonlat) for h in config.hold_out)]
    held = sorted({t.town for t in tiles} - {t.town for t in kept})
    stats: dict[str, Any] = {
        "tiles_found": len(tiles), "tiles_held_out": len(tiles) - len(kept),
        "held_out_towns": held, "towns": {},
        "train": {"images": 0, "buildings": 0}, "val": {"images": 0, "buildings": 0},
        "dropped_nodata": 0,
    }
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    per_town: dict[str, int] = defaultdict(int)
    for n_blk, blk in enumerate(sorted(blocks_of(kept, config.gsd_cm, config.imgsz),
                                      key=lambda b: (b.town, b.z, b.x0, b.y0))):
        rendered = render_block(blk, config.gsd_cm, config.imgsz)
        if rendered is None:
            continue
        img, valid, merc_px = rendered
        first = next(iter(blk.tiles.values()))
        cos = math.cos(math.radians(first.lonlat[1]))
        # outlines only where there is imagery: a roof reaching into a missing tile would be
        # labelled over the grey padding
        imaged = shapely.union_all([box(*mercantile.xy_bounds(t.x, t.y, t.z))
                                    for t in blk.tiles.values()])
        outlines = [q for t in blk.tiles.values() for p in read_outlines(t.labels)
                    for q in _polygons(p.intersection(imaged))]
        west, _, _, north = blk.bounds_3857
        split = "val" if n_blk % config.val_every == config.val_every - 1 else "train"
        size = img.shape[0]
        starts = range(0, max(1, size - config.imgsz // 4), config.imgsz)
        for r0 in starts:
            for c0 in starts:
                win = img[r0:r0 + config.imgsz, c0:c0 + config.imgsz]
                ok = valid[r0:r0 + config.imgsz, c0:c0 + config.imgsz]
                dark = (win.max(axis=2) < 8) & ok
                if not ok.any() or dark.sum() > config.max_nodata * ok.sum():
                    stats["dropped_nodata"] += 1
                    continue
                canvas = np.full((config.imgsz, config.imgsz, 3), PAD_GREY, np.uint8)
                canvas[:win.shape[0], :win.shape[1]] = win
                lines = block_labels(outlines, west + c0 * merc_px, north - r0 * merc_px,
                                     merc_px, config.imgsz, config.min_area_m2, cos)
                copies = config.repeat if split == "train" else 1
                for c in range(copies):
                    name = f"real_{blk.z}_{blk.x0}_{blk.y0}_{r0}_{c0}_{c}"
                    im, lb = _augment(canvas, lines, c, rng)
                    cv2.imwrite(str(root / "images" / split / f"{name}.jpg"),
                                cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, 92])
                    (root / "labels" / split / f"{name}.txt").write_text(
                        "\n".join(lb) + ("\n" if lb else ""), encoding="utf-8")
                    stats[split]["images"] += 1
                    stats[split]["buildings"] += len(lb)
                per_town[blk.town] += 1
    for town in sorted(per_town):
        lon, lat = _town_centre(town)
        stats["towns"][town] = {"images": per_town[town], "lon": round(lon, 3),
                                "lat": round(lat, 3)}
    stats["config"] = asdict(config)
    stats["roots"] = [str(Path(r).resolve()) for r in roots]
    (root / "real.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    return stats


def _town_centre(town: str) -> tuple[float, float]:
    z, x, y = (int(v) for v in town.split("/"))
    b = mercantile.bounds(x, y, z)
    return (b.west + b.east) / 2, (b.south + b.north) / 2


def _augment(img: np.ndarray, lines: list[str], k: int,
             rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """The k-th copy of a training image: copy 0 as it is, others rotated by k·90°."""
    if k == 0:
        return img, lines
    turns = k % 4
    out = np.ascontiguousarray(np.rot90(img, turns))
    rotated = []
    for line in lines:
        cls, *vals = line.split()
        xy = np.asarray(vals, float).reshape(-1, 2)
        for _ in range(turns):  # np.rot90 turns counter-clockwise: (u, v) -> (v, 1 - u)
            xy = np.stack([xy[:, 1], 1 - xy[:, 0]], axis=1)
        rotated.append(cls + " " + " ".join(f"{c:.6f}" for c in xy.ravel()))
    return out, rotated


def combined_data_yaml(out: Path | str, parts: Sequence[Path | str],
                       names: Sequence[str]) -> Path:
    """A ``data.yaml`` that trains on the images of several dataset folders together."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    train = [str((Path(p) / "images" / "train").resolve()) for p in parts]
    val = [str((Path(p) / "images" / "val").resolve()) for p in parts
           if any((Path(p) / "images" / "val").glob("*.jpg"))]
    doc = ["train:"] + [f"  - {t}" for t in train] + ["val:"] + [f"  - {v}" for v in val or train]
    doc += ["names:"] + [f"  {i}: {n}" for i, n in enumerate(names)]
    path = root / "data.yaml"
    path.write_text("\n".join(doc) + "\n", encoding="utf-8")
    return path


#: The provenance file a folder of real imagery carries (repository, commit, licences).
SOURCE_FILE = "SOURCE.json"


def read_source(root: Path | str) -> dict[str, Any]:
    """The provenance a real-imagery folder declares in ``SOURCE.json`` (required).

    A model card must name every training source and its licence, so a folder without one
    is refused rather than trained on anonymously.
    """
    p = Path(root) / SOURCE_FILE
    if not p.is_file():
        raise InputError(f"{root}: no {SOURCE_FILE} saying where the imagery comes from "
                         "(keys: name, repository, commit, path, licence); see docs/real-data.md")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{p}: not valid JSON ({exc})") from exc
    missing = {"name", "licence"} - set(data)
    if missing:
        raise InputError(f"{p}: missing {', '.join(sorted(missing))}")
    return dict(data)


def real_training_set(roots: Sequence[Path], out: Path, config: RealDatasetConfig, *,
                      synthetic: Path, names: Sequence[str]) -> tuple[Path, dict[str, Any]]:
    """Build (once) the real set and a data.yaml training on it with the synthetic set.

    The real set goes to ``out/real``; returns the yaml and the provenance for the model card.
    """
    sources = [read_source(r) for r in roots]
    real_dir = out / "real"
    meta = real_dir / "real.json"
    wanted = json.loads(json.dumps(asdict(config)))
    stats = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else None
    if stats is None or stats.get("config") != wanted or \
            stats.get("roots") != [str(Path(r).resolve()) for r in roots]:
        # another hold-out or weight than the set on disk was built with: build it anew,
        # so a held-out town can never stay in the training images
        shutil.rmtree(real_dir, ignore_errors=True)
        stats = build_real_dataset(roots, real_dir, config)
    yaml = combined_data_yaml(out / "combined", [synthetic, real_dir], names)
    return yaml, {"sources": sources, "towns_trained": stats["towns"],
                  "held_out": [asdict(h) for h in config.hold_out],
                  "held_out_towns": stats["held_out_towns"],
                  "images": {"train": stats["train"], "val": stats["val"]},
                  "dropped_nodata": stats["dropped_nodata"],
                  "missing_labels": "tiles without a label file are left out (unmapped, not "
                                    "empty); outlines under min_area_m2 are dropped",
                  "repeat": config.repeat}
