"""Export trained weights to ONNX and write the model card beside them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.card import ModelCard, sha256_file

os.environ.setdefault("YOLO_OFFLINE", "true")


def export_onnx(weights: Path | str, imgsz: int) -> Path:
    """Export ultralytics ``.pt`` weights to a static-shape ONNX file beside them."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    out = model.export(format="onnx", imgsz=imgsz, dynamic=False, simplify=False, opset=17,
                       verbose=False)
    return Path(out)


def package_model(
    weights: Path | str,
    out_dir: Path | str,
    *,
    classes: tuple[str, ...],
    gsd_cm: float,
    imgsz: int,
    training: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    name: str = "skypatrol-seg",
    onnx: bool = True,
    calibration: Sequence[Path] = (),
) -> Path:
    """Copy the weights into ``out_dir`` with their ONNX export and a model card.

    With ``calibration`` tiles the ONNX export is also quantized to int8
    (:mod:`models.quantize`), which becomes the default runtime.
    Returns the card's path (``out_dir/<name>.json``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pt = out / f"{name}.pt"
    if Path(weights).resolve() != pt.resolve():
        shutil.copyfile(weights, pt)
    from ultralytics.utils.torch_utils import strip_optimizer

    strip_optimizer(str(pt))  # a mid-training checkpoint carries optimizer state: drop it
    files = {"pt": pt.name}
    if onnx:
        exported = export_onnx(pt, imgsz)
        files["onnx"] = exported.name
        if calibration:
            from models.quantize import METHOD, quantize_onnx

            quantize_onnx(exported, calibration, out / f"{name}.int8.onnx", imgsz)
            files["onnx-int8"] = f"{name}.int8.onnx"
            training = {**training, "quantization": {"method": METHOD,
                                                     "calibration_tiles": len(calibration)}}
    card = ModelCard(
        classes=classes,
        gsd_cm=gsd_cm,
        imgsz=imgsz,
        weights=files,
        sha256={k: sha256_file(out / v) for k, v in files.items()},
        default_runtime="onnx-int8" if "onnx-int8" in files else "onnx" if onnx else "pt",
        training=training,
        metrics=metrics or {},
    )
    return card.save(out / f"{name}.json")
