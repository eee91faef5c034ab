"""Post-training int8 quantization of the exported ONNX model, calibrated on training tiles.

Only the convolutions are quantized (weights per output channel, activations per tensor,
both from the range seen on the calibration tiles); activations, the detection head's
decoding and the mask prototypes' combination stay in float. On a CPU with VNNI this halves
the inference time per tile, and survey results on unseen worlds stay the same (README,
"Model").
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: How the int8 weights are made (recorded in the model card).
METHOD = ("onnxruntime static quantization, QDQ, Conv only, int8 weights per channel, "
          "uint8 activations, MinMax calibration")


def calibration_images(images_dir: Path | str, n: int = 128, seed: int = 0) -> list[Path]:
    """``n`` tiles drawn at random (reproducibly) from a dataset's image folder."""
    files = sorted(p for p in Path(images_dir).rglob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif"))
    if not files:
        raise FileNotFoundError(f"{images_dir}: no images to calibrate the int8 model on")
    return random.Random(seed).sample(files, min(n, len(files)))


def calibration_from_data_yaml(data_yaml: Path | str, n: int = 128) -> list[Path]:
    """Calibration tiles from a YOLO dataset's training images (its ``data.yaml``)."""
    from models.dataset import split_folders

    folders = split_folders(data_yaml, "train")
    if not folders:
        raise ValueError(f"{data_yaml}: no 'train' image folder to calibrate the int8 model on")
    # several training folders (synthetic and real tiles): the same share from each, so the
    # activation ranges cover every kind of imagery the model will see
    per = -(-n // len(folders))
    return [f for d in folders for f in calibration_images(d, per)][:n]


def _tensor(path: Path, imgsz: int) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    if img.shape[:2] != (imgsz, imgsz):
        img = cv2.resize(img, (imgsz, imgsz), interpolation=cv2.INTER_AREA)
    from models.runtime import model_input

    return model_input(img[:, :, ::-1])


def quantize_onnx(onnx_path: Path | str, images: Sequence[Path], out_path: Path | str,
                  imgsz: int) -> Path:
    """Write an int8 copy of ``onnx_path`` calibrated on ``images`` (RGB tiles at ``imgsz``)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Tiles(CalibrationDataReader):
        def __init__(self, name: str) -> None:
            self.name, self.it = name, iter(images)

        def get_next(self) -> dict[str, Any] | None:
            p = next(self.it, None)
            return None if p is None else {self.name: _tensor(p, imgsz)}

    import onnxruntime as ort

    src, out = Path(onnx_path), Path(out_path)
    name = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre))  # shapes inferred, graph folded before quantizing
        quantize_static(str(pre), str(out), Tiles(name), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                        calibrate_method=CalibrationMethod.MinMax)
    return out
