"""Real-imagery evaluation: mosaics in ground metres, matching, negative scenes."""

import json

import cv2
import geopandas as gpd
import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from models.real import find_tiles
from pipeline.real_evaluation import scene_rasters, score_patch, town_mosaics
from tests.models.test_real import town


def test_a_town_patch_becomes_one_utm_mosaic_with_its_outlines(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    town(src, 85.52, 27.63, n=3)
    (patch,) = town_mosaics(find_tiles([src]), tmp_path / "m")
    with rasterio.open(patch["path"]) as ds:
        assert ds.crs.to_epsg() == 32645  # UTM 45N
        assert abs(ds.transform.a * 100 - patch["gsd_cm"]) < 0.05
        assert 6.4 < patch["gsd_cm"] < 6.8  # 7.46 cm Mercator at 27.6 degrees north
        img = ds.read()
    assert len(patch["truth"]) == 9
    # each outline lies on its bright roof in the warped mosaic
    with rasterio.open(patch["path"]) as ds:
        for g in patch["truth"].geometry:
            r, c = ds.index(g.centroid.x, g.centroid.y)
            assert img[:, r, c].mean() > 180
    assert patch["region"].area == pytest.approx(3 * 3 * (256 * 0.0661) ** 2, rel=0.05)


def test_matching_counts_roofed_classes_and_ious():
    crs = "EPSG:32645"
    truth = gpd.GeoDataFrame({"object_class": ["building"] * 3},
                             geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10),
                                       box(40, 0, 50, 10)], crs=crs)
    det = gpd.GeoDataFrame({"class": ["building", "shed", "billboard", "building"],
                            "score": [0.9, 0.8, 0.7, 0.6]},
                           geometry=[box(0, 0, 10, 9), box(21, 0, 30, 10), box(60, 0, 62, 1),
                                     box(80, 0, 90, 10)], crs=crs)
    r = score_patch(det, truth, box(-5, -5, 100, 20))
    assert (r["n_true"], r["n_detected"], r["tp"]) == (3, 3, 2)
    assert r["ious"] == pytest.approx([0.9, 0.9])
    assert r["other_detections"] == 0  # the 2 m² board is below the counted size
    outside = score_patch(det, truth, box(-5, -5, 35, 20))  # the region cuts off the rest
    assert (outside["n_true"], outside["n_detected"]) == (2, 2)


def test_plain_images_of_a_negative_scene_get_their_stated_gsd(tmp_path):
    scene = tmp_path / "field"
    scene.mkdir()
    cv2.imwrite(str(scene / "a.png"), np.full((100, 200, 3), 90, np.uint8))
    (scene / "SOURCE.json").write_text(json.dumps(
        {"name": "t", "licence": "CC0", "gsd_cm": 8, "files": []}))
    ((name, tif),) = scene_rasters(scene, tmp_path)
    with rasterio.open(tif) as ds:
        assert name == "a.png" and ds.crs.is_projected
        assert ds.transform.a == pytest.approx(0.08) and ds.width == 200
