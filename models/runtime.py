"""Inference runtime: load a packaged model (card + weights) and segment batches of tiles."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geodata.errors import SkypatrolError
from models.card import SHIPPED_DIR, ModelCard

os.environ.setdefault("YOLO_OFFLINE", "true")

DEFAULT_CARD = SHIPPED_DIR / "skypatrol-seg.json"


class ModelNotFoundError(SkypatrolError, FileNotFoundError):
    """No packaged model where one was expected."""


@dataclass(frozen=True)
class RawDetection:
    """One instance in one tile: class index, score and its mask at tile resolution."""

    class_id: int
    score: float
    mask: np.ndarray  # (H, W) bool, tile pixels


def rgb_to_bgr(rgb: np.ndarray) -> np.ndarray:
    """HWC RGB (rasterio after moveaxis, djitellopy frames) to HWC BGR (ultralytics, OpenCV)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HWC image with 3 channels, got shape {rgb.shape}")
    return np.ascontiguousarray(rgb[:, :, ::-1])


def model_input(rgb: np.ndarray) -> np.ndarray:
    """An HWC RGB uint8 tile as the exported model takes it: NCHW float32 in [0, 1]."""
    x = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
    x /= 255.0
    return x


def chw_to_hwc(chw: np.ndarray) -> np.ndarray:
    """Rasterio's CHW band order as HWC: a view, not a copy.

    The model's input is CHW again, and OpenCV's BGR copy is made by ``rgb_to_bgr``.
    """
    return np.moveaxis(chw, 0, 2)


class Detector:
    """A segmentation model with its card: ``predict`` maps RGB tiles to raw detections."""

    def __init__(self, card_path: Path | str | None = None, runtime: str | None = None,
                 workers: int | None = None):
        path = Path(card_path) if card_path else DEFAULT_CARD
        if path.suffix == ".pt" or path.suffix == ".onnx":
            path = path.with_suffix(".json")
        if not path.exists():
            raise ModelNotFoundError(
                f"no model card at {path}; train one with `skypatrol train --out DIR` and pass "
                "--model DIR/model/skypatrol-seg.json"
            )
        self.card_path = path
        self.card = ModelCard.load(path)
        self.runtime = runtime or self.card.default_runtime
        if self.runtime not in self.card.weights:
            raise ModelNotFoundError(f"{path} names no {self.runtime!r} weights "
                                     f"(it has: {', '.join(self.card.weights)})")
        weights = self.card.weights_path(path, self.runtime)
        if not weights.exists():
            raise ModelNotFoundError(f"{weights}: weights named by {path} are missing")
        from ultralytics import YOLO

        self.model = YOLO(str(weights), task="segment")
        self.weights = weights
        #: tiles segmented at once, one thread each (ONNX runtime)
        self.workers = workers or min(2, os.cpu_count() or 1)
        self._session: Any = None
        self._pool: Any = None

    def _onnx(self) -> Any:
        """An ONNX Runtime session that does not spin: one thread per run.

        ``workers`` runs go at once instead; idle threads spinning for work are most of the
        CPU time of a model this small.
        """
        if self._session is None:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(str(self.weights), so,
                                                 providers=["CPUExecutionProvider"])
        return self._session

    def _predict_onnx_one(self, rgb: np.ndarray, floor: float | None = None) -> list[RawDetection]:
        """One tile through the ONNX session, with ultralytics' own NMS and mask decoding."""
        import torch
        from ultralytics.utils.nms import non_max_suppression
        from ultralytics.utils.ops import process_mask_native

        sess = self._onnx()
        x = model_input(rgb)
        out0, protos = sess.run(None, {sess.get_inputs()[0].name: x})
        with torch.inference_mode():
            pred = non_max_suppression(torch.from_numpy(out0), floor or self.card.min_score,
                                       self.card.iou_threshold, nc=len(self.classes))[0]
            if floor is None:
                keep = self._passes(pred[:, 5].tolist(), pred[:, 4].tolist())
                pred = pred[torch.from_numpy(keep)]
            if not len(pred):
                return []
            masks = process_mask_native(torch.from_numpy(protos[0]), pred[:, 6:], pred[:, :4],
                                        rgb.shape[:2]).numpy() > 0
        return [RawDetection(int(c), float(s), m)
                for c, s, m in zip(pred[:, 5].tolist(), pred[:, 4].tolist(), masks)]

    def _passes(self, cls: list[float], score: list[float]) -> np.ndarray:
        """Which detections reach their class's score threshold."""
        need = [self.card.threshold(self.classes[int(c)]) for c in cls]
        return np.array([s >= n for s, n in zip(score, need)], dtype=bool)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names in index order."""
        return self.card.classes

    def predict(self, tiles_rgb: list[np.ndarray],
                floor: float | None = None) -> list[list[RawDetection]]:
        """Segment a batch of ``imgsz`` x ``imgsz`` RGB tiles (HWC uint8).

        Each class keeps to its card threshold; with ``floor``, every detection scoring at
        least ``floor`` is returned instead (to confirm what another view already found).
        """
        if not tiles_rgb:
            return []
        imgsz = self.card.imgsz
        onnx = self.runtime.startswith("onnx")  # onnx (float) or onnx-int8
        if onnx and all(t.shape == (imgsz, imgsz, 3) for t in tiles_rgb):
            if self.workers == 1 or len(tiles_rgb) == 1:
                return [self._predict_onnx_one(t, floor) for t in tiles_rgb]
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="skypatrol-seg")
            return list(self._pool.map(lambda t: self._predict_onnx_one(t, floor), tiles_rgb))
        bgr = [rgb_to_bgr(t) for t in tiles_rgb]
        batch = 1 if onnx else len(bgr)
        results: list[Any] = []
        for i in range(0, len(bgr), batch):
            results.extend(self.model.predict(
                bgr[i:i + batch], imgsz=imgsz, conf=floor or self.card.min_score,
                iou=self.card.iou_threshold, retina_masks=True, verbose=False, device="cpu",
            ))
        out: list[list[RawDetection]] = []
        for res in results:
            dets: list[RawDetection] = []
            if res.masks is not None and len(res.boxes):
                masks = res.masks.data.cpu().numpy() > 0.5
                cls = res.boxes.cls.cpu().numpy().astype(int)
                conf = res.boxes.conf.cpu().numpy()
                keep = (self._passes(cls.tolist(), conf.tolist()) if floor is None
                        else conf >= floor)
                for k in np.flatnonzero(keep):
                    dets.append(RawDetection(int(cls[k]), float(conf[k]), masks[k]))
            out.append(dets)
        return out
