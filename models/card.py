"""The model card: the config a model carries beside its weights (classes, GSD, tiling, metrics)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CARD_FORMAT = "skypatrol-model-card/1"
#: Where the shipped model lives (weights and card), inside the installed ``models`` package.
SHIPPED_DIR = Path(__file__).parent / "weights"


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelCard:
    """What a detection model needs to be used correctly, stored as JSON beside its weights.

    Attributes:
        classes: class names in index order (ASCII).
        task: ``segment`` (instance masks give polygon footprints for area measurement).
        gsd_cm: ground sample distance the model was trained at; rasters are resampled to it.
        imgsz: tile side in pixels at ``gsd_cm``.
        tile_overlap: fraction of a tile shared with its neighbour when tiling a raster.
        score_threshold, iou_threshold: detection thresholds for inference.
        class_score_thresholds: a lower score threshold for some classes (small, thin
            billboards score low); the pipeline holds such low-scoring detections to a shape
            test (``pipeline.detect.looks_like_board``).
        outline_offset_m: per class, how far the masks' outlines lie outside the objects'
            edges (median over the evaluation's matches); detection pulls outlines in by it.
        weights: file names of the weights (``pt``, ``onnx`` and its int8 copy ``onnx-int8``)
            relative to the card.
        sha256: sha256 of each weights file.
        default_runtime: which weights inference uses by default (the faster, benchmarked).
        training: data seeds, sizes and hyper-parameters.
        metrics: evaluation results (and how to reproduce them).

    """

    classes: tuple[str, ...]
    gsd_cm: float
    imgsz: int
    task: str = "segment"
    tile_overlap: float = 0.2
    score_threshold: float = 0.5
    iou_threshold: float = 0.5
    class_score_thresholds: dict[str, float] = field(default_factory=dict)
    outline_offset_m: dict[str, float] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)
    default_runtime: str = "onnx"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    why_segment: str = (
        "Instance segmentation gives each structure a polygon footprint, so square metres "
        "(the totals leadership reports) and extensions beyond a permit can be measured; "
        "oriented boxes cannot describe an L-shaped building with its extension."
    )
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    format: str = CARD_FORMAT

    def __post_init__(self) -> None:
        if not self.classes or any(not c.isascii() for c in self.classes):
            raise ValueError("classes must be a non-empty list of ASCII names")
        if self.gsd_cm <= 0 or self.imgsz <= 0 or not 0 <= self.tile_overlap < 0.5:
            raise ValueError("gsd_cm and imgsz must be positive and tile_overlap in [0, 0.5)")
        unknown = set(self.class_score_thresholds) - set(self.classes)
        if unknown:
            raise ValueError(f"class_score_thresholds names unknown classes {sorted(unknown)}")

    def threshold(self, cls: str) -> float:
        """The score a detection of ``cls`` needs."""
        return self.class_score_thresholds.get(cls, self.score_threshold)

    @property
    def min_score(self) -> float:
        """The lowest score any class needs (the model's own cut-off)."""
        return min([self.score_threshold, *self.class_score_thresholds.values()])

    def save(self, path: Path | str) -> Path:
        """Write the card as JSON."""
        p = Path(path)
        p.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: Path | str) -> ModelCard:
        """Read a card and check it is one (and that its weights match their sha256)."""
        p = Path(path)
        data = json.loads(p.read_text(encoding="utf-8"))
        if data.get("format") != CARD_FORMAT:
            raise ValueError(f"{p}: not a skypatrol model card (format {data.get('format')!r})")
        data["classes"] = tuple(data["classes"])
        card = cls(**data)
        for kind, name in card.weights.items():
            wpath = p.parent / name
            want = card.sha256.get(kind)
            if wpath.exists() and want and sha256_file(wpath) != want:
                raise ValueError(f"{wpath}: sha256 does not match the model card {p}")
        return card

    def weights_path(self, card_path: Path | str, kind: str | None = None) -> Path:
        """Absolute path of the weights of ``kind`` (default: the default runtime)."""
        return Path(card_path).parent / self.weights[kind or self.default_runtime]
