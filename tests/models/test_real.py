"""Real labelled tiles: web-map tiles and OSM-style outlines become aligned training images."""

import json

import cv2
import mercantile
import numpy as np
import pytest
from shapely.geometry import box

from models.real import (
    HoldOut,
    RealDatasetConfig,
    build_real_dataset,
    find_tiles,
    real_training_set,
)
from skypatrol.errors import InputError

Z = 21


def write_tile(root, x, y, roof_px=(80, 100, 160, 150), label=True):
    """A 256 px tile with one bright roof (pixel box) and, optionally, its outline."""
    img = np.full((256, 256, 3), (60, 110, 70), np.uint8)
    c0, r0, c1, r1 = roof_px
    img[r0:r1, c0:c1] = (200, 200, 210)
    (root / "img").mkdir(exist_ok=True)
    (root / "lbl").mkdir(exist_ok=True)
    cv2.imwrite(str(root / "img" / f"OAM-{x}-{y}-{Z}.png"), img)
    if label:
        b = mercantile.bounds(x, y, Z)
        lon = lambda c: b.west + (b.east - b.west) * c / 256  # noqa: E731
        lat = lambda r: b.north - (b.north - b.south) * r / 256  # noqa: E731
        poly = box(lon(c0), lat(r1), lon(c1), lat(r0))
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": poly.__geo_interface__}]}
        (root / "lbl" / f"OAM-{x}-{y}-{Z}.geojson").write_text(json.dumps(fc))


def town(root, lon, lat, n=2, unlabelled=()):
    t = mercantile.tile(lon, lat, Z)
    for i in range(n):
        for j in range(n):
            write_tile(root, t.x + i, t.y + j, label=(i, j) not in unlabelled)
    return t


def test_tiles_become_images_at_the_model_gsd_with_aligned_outlines(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    town(src, 39.2, -6.14)  # a 2x2 block near the equator: ~7.5 cm tiles
    stats = build_real_dataset([src], tmp_path / "out", RealDatasetConfig(hold_out=(),
                                                                          val_every=1000))
    assert stats["train"]["images"] == 1 and stats["train"]["buildings"] == 4
    (img_path,) = (tmp_path / "out" / "images" / "train").glob("*.jpg")
    img = cv2.imread(str(img_path))
    assert img.shape == (384, 384, 3)
    # two 256 px tiles of ~7.46 cm are ~38.2 m: 382 px at 10 cm, the rest padding
    lines = (tmp_path / "out" / "labels" / "train" / f"{img_path.stem}.txt").read_text()
    for line in lines.splitlines():
        xy = np.asarray(line.split()[1:], float).reshape(-1, 2) * 384
        c0, r0 = xy.min(axis=0).round().astype(int)
        c1, r1 = xy.max(axis=0).round().astype(int)
        inside = img[r0 + 2:r1 - 2, c0 + 2:c1 - 2].mean()
        ring = img[r0 - 4:r1 + 4, c0 - 4:c1 + 4]
        assert inside > 180  # the outline sits on the bright roof...
        assert abs((r1 - r0) - 50 * 7.46 / 10) < 2 and abs((c1 - c0) - 80 * 7.46 / 10) < 2
        assert ring.mean() < inside - 10  # ...and not beyond it


def test_held_out_towns_and_unlabelled_tiles_are_left_out(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    town(src, 39.2, -6.14, unlabelled={(1, 1)})
    town(src, 85.52, 27.63)
    assert len(find_tiles([src])) == 7  # the unlabelled tile is unmapped, not empty
    cfg = RealDatasetConfig(hold_out=(HoldOut("nepal", 85.52, 27.63),), val_every=1000)
    stats = build_real_dataset([src], tmp_path / "out", cfg)
    assert stats["tiles_held_out"] == 4 and len(stats["held_out_towns"]) == 1
    assert stats["train"]["buildings"] == 3
    assert all(v["lat"] < 0 for v in stats["towns"].values())


def test_rotated_copies_keep_their_outlines_on_the_roof(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    town(src, 39.2, -6.14)
    build_real_dataset([src], tmp_path / "out",
                       RealDatasetConfig(hold_out=(), val_every=1000, repeat=2))
    imgs = sorted((tmp_path / "out" / "images" / "train").glob("*.jpg"))
    assert len(imgs) == 2
    for p in imgs:
        img = cv2.imread(str(p))
        for line in (tmp_path / "out" / "labels" / "train" / f"{p.stem}.txt").read_text() \
                .splitlines():
            xy = np.asarray(line.split()[1:], float).reshape(-1, 2) * 384
            cx, cy = xy.mean(axis=0).round().astype(int)
            assert img[cy, cx].mean() > 180


def test_a_folder_without_provenance_is_refused(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    town(src, 39.2, -6.14)
    with pytest.raises(InputError, match="SOURCE.json"):
        real_training_set([src], tmp_path / "run", RealDatasetConfig(),
                          synthetic=tmp_path / "syn", names=("building",))
    (src / "SOURCE.json").write_text(json.dumps({"name": "test tiles", "licence": "CC0"}))
    yaml, prov = real_training_set([src], tmp_path / "run", RealDatasetConfig(hold_out=()),
                                   synthetic=tmp_path / "syn", names=("building",))
    assert prov["sources"][0]["licence"] == "CC0" and yaml.exists()


def test_no_tiles_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no image tiles"):
        build_real_dataset([tmp_path], tmp_path / "out", RealDatasetConfig())
