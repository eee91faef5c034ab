"""The real-imagery check ablation: its scoring of findings and scenes, and its verdicts."""

import json

import cv2
import geopandas as gpd
import numpy as np
from shapely.geometry import box

from benchmarks.ablation import verdicts
from benchmarks.bench_crossworld import check_configs
from benchmarks.bench_real_checks import as_detections, negative_scenes
from models.runtime import Detector
from pipeline.real_evaluation import building_totals, score_patch

CRS = "EPSG:32636"


def test_construction_findings_are_scored_as_roofs_and_other_findings_apart():
    truth = gpd.GeoDataFrame({"object_class": ["building", "building"]},
                             geometry=[box(0, 0, 10, 10), box(30, 0, 40, 10)], crs=CRS)
    violations = gpd.GeoDataFrame(
        {"category": ["illegal_construction", "illegal_construction", "illegal_billboard"],
         "confidence": [0.9, 0.8, 0.6]},
        geometry=[box(0, 0, 10, 9.5),      # one roof found (IoU 0.95)
                  box(60, 0, 70, 10),      # a false roof
                  box(30, 0, 36, 2)],      # a "billboard" on the other roof: not a roof
        crs=CRS)
    part = score_patch(as_detections(violations), truth, box(-5, -5, 80, 20))
    t = building_totals([part])
    assert (t["buildings"], t["detected"], t["matched"]) == (2, 2, 1)
    assert t["recall"] == 0.5 and t["precision"] == 0.5
    assert t["billboard_detections"] == 1


def test_a_negative_scene_is_surveyed_once_per_configuration(tmp_path):
    scene = tmp_path / "neg" / "grass"
    scene.mkdir(parents=True)
    rng = np.random.default_rng(3)
    grass = np.clip(np.array([60, 120, 70])[None, None, :] + rng.normal(0, 6, (400, 400, 3)),
                    0, 255).astype(np.uint8)
    cv2.imwrite(str(scene / "grass.png"), grass)
    (scene / "SOURCE.json").write_text(json.dumps({"name": "test grass", "gsd_cm": 10}))
    configs = dict(list(check_configs().items())[:3])
    out = negative_scenes(tmp_path / "neg", tmp_path / "work", configs, Detector(None))
    assert out["scenes"] == ["grass"] and out["refused_images"] == []
    assert out["area_ha"] == 0.16  # 400 px x 10 cm, squared
    assert set(out["pooled"]) == set(configs)
    # grass: no finding under any configuration
    assert all(row["findings"] == 0 for row in out["pooled"].values())


def _towns(p: float, r: float) -> dict:
    return {"precision": p, "recall": r, "mean_iou_matched": 0.7, "detected": 10}


def test_verdicts_take_the_sign_of_running_the_check():
    result = {
        "towns": {"pooled": {"default checks": _towns(0.5, 0.2),
                             "without a": _towns(0.3, 0.2),    # a on: F1 0.24 -> 0.29
                             "without b": _towns(0.5, 0.3),    # b on: costs recall
                             "with c": _towns(0.5, 0.2),       # c off: no change on towns
                             "without d": _towns(0.5, 0.2),
                             "with e": _towns(0.5, 0.3)}},     # e would raise recall
        "negatives": {"pooled": {"default checks": {"findings_per_ha": 1.0},
                                 "without a": {"findings_per_ha": 1.0},
                                 "without b": {"findings_per_ha": 2.0},   # b cuts false ones
                                 "with c": {"findings_per_ha": 0.5},      # c would cut them
                                 "without d": {"findings_per_ha": 1.05},
                                 "with e": {"findings_per_ha": 1.0}}},
    }
    v = verdicts(result)
    assert v["without a"]["verdict"] == "helps" and v["without a"]["default"] == "on"
    assert v["without b"]["verdict"] == "mixed"
    assert v["with c"]["verdict"] == "helps" and v["with c"]["default"] == "off"
    assert v["without d"]["verdict"] == "no effect measured"
    assert v["with e"]["verdict"] == "helps"
    assert v["without b"]["negatives_per_ha"] == (1.0, 2.0)
