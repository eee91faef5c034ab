"""The shipped int8 model finds what its float original finds, with the same outlines."""

import pytest

from models.runtime import Detector, ModelNotFoundError
from pipeline.detect import TilingConfig, detect_raster


def test_int8_weights_find_what_the_float_weights_find(tiny_world):
    ortho = str(tiny_world / "epoch1" / "ortho.tif")
    found = {}
    for runtime in ("onnx", "onnx-int8"):
        det = Detector(runtime=runtime)
        found[runtime] = detect_raster(ortho, det, TilingConfig.for_detector(det), "EPSG:4549")
    ref, q = found["onnx"], found["onnx-int8"]
    assert len(ref) >= 5
    matched = 0
    for cls, g in zip(ref["class"], ref.geometry):
        same = q[q["class"] == cls]
        iou = max((g.intersection(h).area / g.union(h).area for h in same.geometry), default=0)
        matched += iou >= 0.8
    assert matched >= 0.9 * len(ref)
    assert abs(len(q) - len(ref)) <= max(1, 0.1 * len(ref))


def test_a_runtime_the_card_lacks_is_named():
    with pytest.raises(ModelNotFoundError, match="'tensorrt'"):
        Detector(runtime="tensorrt")
