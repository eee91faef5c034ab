"""Score thresholds chosen on the validation split (never on held-out data).

A model fine-tuned on real tiles with incomplete OpenStreetMap labels scores real roofs lower
than the synthetic ones it learned first; a threshold set for the synthetic worlds then
drops most real buildings. The threshold of each class is set where its F1 on the
validation images is highest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Thresholds tried, lowest first.
THRESHOLDS: tuple[float, ...] = tuple(round(0.10 + 0.05 * k, 2) for k in range(12))


def _label_boxes(path: Path) -> list[tuple[int, np.ndarray]]:
    """Class and normalised xyxy box of each YOLO-seg polygon in a label file."""
    out = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            cls, *vals = line.split()
            xy = np.asarray(vals, float).reshape(-1, 2)
            out.append((int(cls), np.concatenate([xy.min(axis=0), xy.max(axis=0)])))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def f1_by_threshold(weights: Path | str, images: Sequence[Path], cls: int, imgsz: int,
                    iou: float = 0.5) -> dict[float, dict[str, float]]:
    """Precision, recall and F1 of one class at each threshold (box IoU ``iou``)."""
    from ultralytics import YOLO

    model = YOLO(str(weights), task="segment")
    n_true = 0
    scored: list[tuple[float, bool]] = []
    for img in images:
        truth = [b for c, b in _label_boxes(img.parent.parent.parent / "labels"
                                            / img.parent.name / f"{img.stem}.txt") if c == cls]
        n_true += len(truth)
        r: Any = list(model.predict(str(img), imgsz=imgsz, conf=min(THRESHOLDS),
                                    verbose=False))[0]
        keep = np.asarray(r.boxes.cls).astype(int) == cls
        boxes = np.asarray(r.boxes.xyxyn)[keep]
        scores = np.asarray(r.boxes.conf)[keep]
        used: set[int] = set()
        for k in np.argsort(-scores):
            best, best_iou = -1, iou
            for j, box in enumerate(truth):
                v = _iou(boxes[k], box)
                if j not in used and v >= best_iou:
                    best, best_iou = j, v
            if best >= 0:
                used.add(best)
            scored.append((float(scores[k]), best >= 0))
    out: dict[float, dict[str, float]] = {}
    for thr in THRESHOLDS:
        tp = sum(ok for s, ok in scored if s >= thr)
        n = sum(1 for s, _ in scored if s >= thr)
        p = tp / n if n else 0.0
        r_ = tp / n_true if n_true else 0.0
        out[thr] = {"precision": round(p, 4), "recall": round(r_, 4),
                  "f1": round(2 * p * r_ / (p + r_), 4) if p + r_ else 0.0}
    return out


def best_threshold(weights: Path | str, val_dirs: Sequence[Path | str], cls: int,
                   imgsz: int, per_dir: int = 150) -> tuple[float, dict[str, Any]]:
    """The threshold of highest F1 over the validation images of every folder given.

    Each folder (``images/val`` of a dataset) gives up to ``per_dir`` images, so the real and
    the synthetic validation sets weigh alike.
    """
    images: list[Path] = []
    for d in val_dirs:
        files = sorted(Path(d).glob("*.jpg"))
        step = max(1, len(files) // per_dir)
        images += files[::step][:per_dir]
    table = f1_by_threshold(weights, images, cls, imgsz)
    best = max(table, key=lambda t: (table[t]["f1"], t))
    return best, {"images": len(images), "by_threshold": {str(k): v for k, v in table.items()}}
