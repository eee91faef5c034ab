"""The shipped int8 model finds what its float original finds, with the same outlines, and
both engines that run ONNX weights (OpenVINO, ONNX Runtime) find the same."""

import numpy as np
import pytest

from geodata.errors import SkypatrolError
from models.runtime import Detector, ModelNotFoundError
from pipeline.detect import TilingConfig, detect_raster


def assert_same_findings(ref, q):
    """At least 90 % of ``ref``'s outlines matched in ``q`` at mask IoU 0.8, counts within 10 %."""
    assert len(ref) >= 5
    matched = 0
    for cls, g in zip(ref["class"], ref.geometry):
        same = q[q["class"] == cls]
        iou = max((g.intersection(h).area / g.union(h).area for h in same.geometry), default=0)
        matched += iou >= 0.8
    assert matched >= 0.9 * len(ref)
    assert abs(len(q) - len(ref)) <= max(1, 0.1 * len(ref))


def test_int8_weights_find_what_the_float_weights_find(tiny_world, monkeypatch):
    monkeypatch.setenv("SKYPATROL_ENGINE", "onnxruntime")
    ortho = str(tiny_world / "epoch1" / "ortho.tif")
    found = {}
    for runtime in ("onnx", "onnx-int8"):
        det = Detector(runtime=runtime)
        found[runtime] = detect_raster(ortho, det, TilingConfig.for_detector(det), "EPSG:4549")
        assert det.engine == "onnxruntime"
    assert_same_findings(found["onnx"], found["onnx-int8"])


def test_openvino_finds_what_onnx_runtime_finds_with_the_int8_weights(tiny_world, monkeypatch):
    ortho = str(tiny_world / "epoch1" / "ortho.tif")
    found = {}
    for engine in ("onnxruntime", "openvino"):
        monkeypatch.setenv("SKYPATROL_ENGINE", engine)
        det = Detector()
        found[engine] = detect_raster(ortho, det, TilingConfig.for_detector(det), "EPSG:4549")
        assert det.engine == engine
    assert_same_findings(found["onnxruntime"], found["openvino"])


def test_without_a_choice_openvino_runs_the_weights(tiny_world, monkeypatch):
    monkeypatch.delenv("SKYPATROL_ENGINE", raising=False)
    det = Detector()
    det.predict([np.zeros((det.card.imgsz, det.card.imgsz, 3), "uint8")] * 2)
    assert det.engine == "openvino"  # a project dependency: installed with skypatrol


def test_an_unknown_engine_is_named(monkeypatch):
    monkeypatch.setenv("SKYPATROL_ENGINE", "tensorrt")
    det = Detector()
    with pytest.raises(SkypatrolError, match="SKYPATROL_ENGINE='tensorrt'"):
        det.predict([np.zeros((det.card.imgsz, det.card.imgsz, 3), "uint8")] * 2)


def test_a_runtime_the_card_lacks_is_named():
    with pytest.raises(ModelNotFoundError, match="'tensorrt'"):
        Detector(runtime="tensorrt")


FIRST_BATCH = """
import locale, numpy as np
from models.runtime import Detector
before = locale.getpreferredencoding(False)
det = Detector()
det.predict([np.zeros((det.card.imgsz, det.card.imgsz, 3), np.uint8)] * 2)
print(det.engine, before, locale.getpreferredencoding(False))
"""


@pytest.mark.parametrize("run", range(3))
def test_a_fresh_detectors_first_batch_neither_hangs_nor_changes_the_text_encoding(run):
    # the two workers' first tiles arrive at once: loading the model twice at once left the
    # process's text encoding ASCII (a survey then failed writing '²'), and the OpenVINO
    # bindings' first use of NumPy from two threads at once deadlocked
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", FIRST_BATCH], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out[0] == "openvino" and out[1] == out[2] == "UTF-8"
