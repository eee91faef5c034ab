"""The real-imagery check ablation: its scoring of negative scenes and its verdicts."""

import json

import cv2
import numpy as np

from benchmarks.bench_crossworld import check_configs
from benchmarks.bench_real_checks import negative_scenes, verdicts


def test_a_negative_scene_is_surveyed_once_per_configuration(tmp_path):
    scene = tmp_path / "neg" / "grass"
    scene.mkdir(parents=True)
    rng = np.random.default_rng(3)
    grass = np.clip(np.array([60, 120, 70])[None, None, :] + rng.normal(0, 6, (400, 400, 3)),
                    0, 255).astype(np.uint8)
    cv2.imwrite(str(scene / "grass.png"), grass)
    (scene / "SOURCE.json").write_text(json.dumps({"name": "test grass", "gsd_cm": 10}))
    configs = dict(list(check_configs().items())[:3])
    out = negative_scenes(tmp_path / "neg", tmp_path / "work", configs)
    assert out["scenes"] == ["grass"]
    assert out["area_ha"] == 0.16  # 400 px x 10 cm, squared
    assert set(out["pooled"]) == set(configs)
    for row in out["pooled"].values():
        assert row["findings_per_ha"] == round(row["findings"] / 0.16, 3)
        assert sum(row["by_category"].values()) == row["findings"]


def _towns(p: float, r: float) -> dict:
    return {"precision": p, "recall": r, "mean_iou_matched": 0.7, "detected": 10}


def test_verdicts_take_the_sign_of_running_the_check():
    result = {
        "towns": {"pooled": {"default checks": _towns(0.5, 0.2),
                             "without a": _towns(0.3, 0.2),    # a on: F1 0.24 -> 0.29
                             "without b": _towns(0.5, 0.3),    # b on: costs recall
                             "with c": _towns(0.5, 0.2),       # c off: no change on towns
                             "without d": _towns(0.5, 0.2)}},
        "negatives": {"pooled": {"default checks": {"findings_per_ha": 1.0},
                                 "without a": {"findings_per_ha": 1.0},
                                 "without b": {"findings_per_ha": 2.0},   # b cuts false ones
                                 "with c": {"findings_per_ha": 0.5},      # c would cut them
                                 "without d": {"findings_per_ha": 1.05}}},
    }
    v = verdicts(result)
    assert v["without a"]["verdict"] == "helps" and v["without a"]["default"] == "on"
    assert v["without b"]["verdict"] == "mixed"
    assert v["with c"]["verdict"] == "helps" and v["with c"]["default"] == "off"
    assert v["without d"]["verdict"] == "no effect measured"
    assert v["without b"]["negatives_per_ha"] == (1.0, 2.0)
