"""Smoke test: one tiny epoch on a tiny synthetic dataset, exported and carded."""

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

from models.card import ModelCard, sha256_file
from models.dataset import CLASSES, DatasetConfig, build_dataset, tile_labels
from skypatrol.cli import cli


def test_tile_labels_clip_and_normalise():
    from shapely.geometry import box

    objs = [("shed", box(2, 2, 6, 6)), ("building", box(-10, -10, -5, -5)),
            ("billboard", box(9, 5, 12, 6))]
    lines = tile_labels(objs, left=0.0, top=10.0, tile_m=10.0, min_visible=0.3)
    assert len(lines) == 2
    cls, *coords = lines[0].split()
    assert cls == "1"
    xy = np.array(coords, float).reshape(-1, 2)
    assert xy.min() >= 0.2 - 1e-6 and xy.max() <= 0.8 + 1e-6
    assert lines[1].startswith("2 ")  # the billboard, clipped at the tile edge
    assert max(float(v) for v in lines[1].split()[1::2]) == pytest.approx(1.0)


def test_dataset_has_labels_for_every_class(tmp_path):
    cfg = DatasetConfig(seeds=(1234,), size_m=160, imgsz=128, tiles_per_epoch=20,
                        empty_fraction=0.2)
    data = build_dataset(tmp_path / "ds", cfg)
    labels = list((tmp_path / "ds" / "labels" / "train").glob("*.txt"))
    assert len(labels) == 40
    seen = {int(line.split()[0]) for f in labels for line in f.read_text().splitlines()}
    assert seen == {0, 1, 2}
    assert any(f.read_text() == "" for f in labels), "some tiles are empty"
    assert "names:" in data.read_text()


def test_mixed_generators_take_turns_and_each_draws_the_validation_worlds(tmp_path):
    cfg = DatasetConfig(seeds=(1234, 1235, 1236), size_m=80, imgsz=128, tiles_per_epoch=2,
                        renderers=("classic", "village"))
    build_dataset(tmp_path / "ds", cfg, val_seeds=(1900,))
    names = {split: sorted(f.stem.split("_")[0] for f in
                           (tmp_path / "ds" / "images" / split).glob("*.jpg"))
             for split in ("train", "val")}
    assert set(names["train"]) == {"classic1234", "village1235", "classic1236"}
    assert set(names["val"]) == {"classic1900", "village1900"}
    # the same seed drawn by the other generator is another world
    a, b = (tmp_path / "ds" / "images" / "val" / f"{r}1900_e1_0000.jpg" for r in
            ("classic", "village"))
    assert a.read_bytes() != b.read_bytes()


def test_an_unknown_generator_is_refused(tmp_path):
    with pytest.raises(ValueError, match="escher"):
        DatasetConfig(renderers=("classic", "escher"))
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path), "--renderer", "escher"])
    assert result.exit_code == 2 and "escher" in result.output


def test_a_time_budget_must_be_positive_hours(tmp_path):
    from models.train import TrainConfig

    assert TrainConfig(time_h=0.1).time_h == 0.1
    with pytest.raises(ValueError, match="positive hours"):
        TrainConfig(time_h=0)
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path), "--time-h", "-1"])
    assert result.exit_code == 2 and "positive hours" in result.output


@pytest.mark.slow
def test_train_one_tiny_epoch_exports_and_cards(tmp_path):
    out = tmp_path / "train"
    result = CliRunner().invoke(cli, [
        "train", "--out", str(out), "--worlds", "1", "--world-size-m", "80", "--tiles", "6",
        "--epochs", "1", "--imgsz", "64", "--batch", "4",
    ])
    assert result.exit_code == 0, result.output + repr(result.exception)
    card_path = out / "model" / "skypatrol-seg.json"
    card = ModelCard.load(card_path)
    assert card.classes == CLASSES and card.imgsz == 64 and card.gsd_cm == 10.0
    assert card.default_runtime == "onnx-int8"  # quantized on the run's own training tiles
    assert card.training["quantization"]["calibration_tiles"] == 12  # 6 tiles x 2 epochs
    run = card.training["run"]  # what the run did, not only what it was asked
    assert run["epochs_run"] == 1 and run["best_epoch"] == 1 and run["hours"] >= 0
    assert set(run["best_val"]) == {"box_map50", "mask_map50", "mask_map50_95"}
    for kind in ("pt", "onnx", "onnx-int8"):
        path = card.weights_path(card_path, kind)
        assert path.exists() and sha256_file(path) == card.sha256[kind]
    for kind in ("onnx", "onnx-int8"):
        sess = ort.InferenceSession(str(card.weights_path(card_path, kind)),
                                    providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        assert list(inp.shape) == [1, 3, 64, 64]
        outputs = sess.run(None, {inp.name: np.zeros((1, 3, 64, 64), np.float32)})
        assert len(outputs) == 2  # detections and mask prototypes


@pytest.mark.slow
def test_train_with_real_tiles_records_their_provenance(tmp_path):
    import json

    from tests.models.test_real import town

    real = tmp_path / "real"
    real.mkdir()
    town(real, 39.2, -6.14, n=4)
    town(real, 85.52, 27.63, n=2)  # the default held-out town: never trained on
    (real / "SOURCE.json").write_text(json.dumps({"name": "test tiles", "licence": "CC0",
                                                  "repository": "here", "commit": "0"}))
    out = tmp_path / "train"
    result = CliRunner().invoke(cli, [
        "train", "--out", str(out), "--worlds", "1", "--world-size-m", "80", "--tiles", "6",
        "--epochs", "1", "--imgsz", "64", "--batch", "4", "--real", str(real)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    card = ModelCard.load(out / "model" / "skypatrol-seg.json")
    real_meta = card.training["real"]
    assert real_meta["sources"][0]["licence"] == "CC0"
    assert len(real_meta["held_out_towns"]) == 1 and len(real_meta["towns_trained"]) == 1
    assert card.default_runtime == "onnx-int8"  # calibrated on both kinds of tiles
    cal = card.training["score_calibration"]  # the building threshold set on validation
    assert card.class_score_thresholds["building"] == cal["threshold"]
    assert card.class_score_thresholds["billboard"] == 0.3
    assert cal["images"] > 0 and len(cal["by_threshold"]) == 12
