"""The model card: per-class score thresholds."""

import pytest

from models.card import ModelCard

CLASSES = ("building", "shed", "billboard")


def test_a_class_may_need_a_lower_score_than_the_rest():
    card = ModelCard(classes=CLASSES, gsd_cm=10, imgsz=384, score_threshold=0.5,
                     class_score_thresholds={"billboard": 0.3})
    assert card.threshold("building") == 0.5 and card.threshold("billboard") == 0.3
    assert card.min_score == 0.3
    assert ModelCard(classes=CLASSES, gsd_cm=10, imgsz=384).min_score == 0.5


def test_thresholds_for_unknown_classes_are_refused():
    with pytest.raises(ValueError, match="unknown classes"):
        ModelCard(classes=CLASSES, gsd_cm=10, imgsz=384, class_score_thresholds={"car": 0.2})


def test_the_shipped_detector_keeps_each_class_to_its_threshold(tiny_world):
    from models.runtime import Detector
    from pipeline.detect import TilingConfig, detect_raster

    det = Detector()
    found = detect_raster(str(tiny_world / "epoch1" / "ortho.tif"), det,
                          TilingConfig.for_detector(det), "EPSG:4549")
    assert len(found)
    for cls, score in zip(found["class"], found["score"]):
        assert score >= det.card.threshold(cls) - 1e-4


def test_outline_offsets_come_from_the_evaluation():
    from pipeline.model_evaluation import outline_offsets

    metrics = {"overall": {"building": {"median_outline_offset_m": 0.06},
                           "shed": {"median_outline_offset_m": -0.02},
                           "billboard": {"median_outline_offset_m": None}}}
    assert outline_offsets(metrics) == {"building": 0.06}  # only outlines that reach out


def test_reevaluating_a_card_keeps_its_offsets():
    """The evaluation sees outlines already pulled in: what is left adds to the card's offset."""
    from pipeline.model_evaluation import outline_offsets

    metrics = {"outline_offset_m_applied": {"building": 0.058, "shed": 0.065, "billboard": 0.05},
               "overall": {"building": {"median_outline_offset_m": 0.0},
                           "shed": {"median_outline_offset_m": 0.013},
                           "billboard": {"median_outline_offset_m": -0.06}}}
    assert outline_offsets(metrics) == {"building": 0.058, "shed": 0.078}


def test_detection_pulls_outlines_in_by_the_cards_offset(tiny_world, tmp_path):
    import json
    import shutil

    from models.runtime import DEFAULT_CARD, Detector
    from pipeline.detect import TilingConfig, detect_raster

    card = json.loads(DEFAULT_CARD.read_text())
    for name in card["weights"].values():
        shutil.copy(DEFAULT_CARD.parent / name, tmp_path / name)
    offsets = card.get("outline_offset_m", {})
    card["outline_offset_m"] = {**offsets, "shed": offsets.get("shed", 0.0) + 0.5}
    (tmp_path / "card.json").write_text(json.dumps(card))
    ortho = str(tiny_world / "epoch1" / "ortho.tif")
    base = Detector()
    plain = detect_raster(ortho, base, TilingConfig.for_detector(base), "EPSG:4549")
    pulled = Detector(tmp_path / "card.json")
    inset = detect_raster(ortho, pulled, TilingConfig.for_detector(pulled), "EPSG:4549")
    a = plain[plain["class"] == "shed"].sort_values("score").reset_index(drop=True)
    b = inset[inset["class"] == "shed"].sort_values("score").reset_index(drop=True)
    assert len(a) == len(b) >= 3
    for g, h in zip(a.geometry, b.geometry):
        assert h.within(g.buffer(0.01))
        assert g.area - h.area == pytest.approx(0.5 * g.length, rel=0.25)
    others = plain[plain["class"] != "shed"].geometry.area.sum()
    assert inset[inset["class"] != "shed"].geometry.area.sum() == pytest.approx(others)


def test_cached_detections_are_keyed_on_the_whole_card(tmp_path):
    import json

    from models.runtime import DEFAULT_CARD
    from pipeline.detect import detection_fingerprint

    card = json.loads(DEFAULT_CARD.read_text())
    (tmp_path / "a.json").write_text(json.dumps(card))
    card["class_score_thresholds"] = {"billboard": 0.4}  # same weights, other detections
    (tmp_path / "b.json").write_text(json.dumps(card))
    a, b = detection_fingerprint(tmp_path / "a.json"), detection_fingerprint(tmp_path / "b.json")
    assert a != b and a == detection_fingerprint(tmp_path / "a.json")
    assert detection_fingerprint(None) == detection_fingerprint(DEFAULT_CARD)
