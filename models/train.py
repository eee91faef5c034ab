"""Training with ultralytics offline: from YAML (no downloadable weights), resumable, on CPU."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "true")  # the string 'true'; '1' is ignored


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters that matter here.

    Attributes:
        model: ultralytics model YAML (built from scratch) or a ``.pt`` to fine-tune.
        epochs: training epochs.
        imgsz: training image size, pixels (the dataset's tile size).
        batch: images per batch.
        device: ``cpu`` or a CUDA index such as ``0``.
        workers: dataloader workers.
        patience: early-stop patience, epochs.
        scale: random scale augmentation (+/-), which also widens the GSD the model accepts.
        lr0: initial learning rate (lower it to fine-tune a trained ``.pt``). Used only with
            an explicit ``optimizer``: ultralytics' ``auto`` sets its own.
        optimizer: ``auto`` (ultralytics chooses the optimizer and its rate), ``SGD``,
            ``AdamW``, ...
        warmup_epochs: learning-rate warm-up, epochs.
        time_h: a wall-clock budget in hours; when set, ultralytics fits the epochs (and the
            learning-rate schedule) into it and ``epochs`` is only the first estimate.

    """

    model: str = "yolo11n-seg.yaml"
    epochs: int = 40
    imgsz: int = 384
    batch: int = 16
    device: str = "cpu"
    workers: int = 2
    patience: int = 30
    scale: float = 0.35
    seed: int = 0
    lr0: float = 0.01
    optimizer: str = "auto"
    warmup_epochs: float = 3.0
    time_h: float | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 1 or self.imgsz % 32:
            raise ValueError("epochs and batch must be >= 1 and imgsz a multiple of 32")
        if self.time_h is not None and not self.time_h > 0:
            raise ValueError(f"the time budget must be positive hours, got {self.time_h}")


def train(data_yaml: Path | str, out_dir: Path | str, config: TrainConfig,
          resume: bool = False) -> Path:
    """Train a segmentation model; returns the path of the best weights.

    With ``resume=True`` an interrupted run in ``out_dir`` continues from its ``last.pt``.
    """
    from ultralytics import YOLO

    out = Path(out_dir).resolve()
    last = out / "train" / "weights" / "last.pt"
    if resume and last.exists():
        model = YOLO(str(last))
        model.train(resume=True)
    else:
        model = YOLO(config.model)
        args: dict[str, Any] = {
            "data": str(Path(data_yaml).resolve()),
            "epochs": config.epochs,
            "imgsz": config.imgsz,
            "batch": config.batch,
            "device": config.device,
            "workers": config.workers,
            "patience": config.patience,
            "project": str(out),
            "name": "train",
            "exist_ok": True,
            # a .pt is fine-tuned from its weights; a YAML starts from scratch (nothing to
            # download here)
            "pretrained": str(config.model).endswith(".pt"),
            "amp": False,
            "plots": False,
            "seed": config.seed,
            "deterministic": False,
            "scale": config.scale,
            "lr0": config.lr0,
            "optimizer": config.optimizer,
            "warmup_epochs": config.warmup_epochs,
            "degrees": 0.0,
            "flipud": 0.5,
            "fliplr": 0.5,
            "mosaic": 1.0,
            "close_mosaic": max(1, config.epochs // 8),
            "hsv_h": 0.02,
            "hsv_s": 0.5,
            "hsv_v": 0.4,
            "cache": "ram",
            "verbose": False,
        }
        if config.time_h is not None:
            args["time"] = config.time_h
        model.train(**args)
    best = out / "train" / "weights" / "best.pt"
    return best if best.exists() else last


def config_dict(config: TrainConfig) -> dict[str, Any]:
    """The config as plain data for the model card."""
    return asdict(config)


def run_record(out_dir: Path | str) -> dict[str, Any]:
    """What a training run did (from ultralytics' ``results.csv``): for the model card.

    The epochs asked for are a ceiling (``time_h`` may fit fewer); this records the epochs
    run, the hours taken and the validation figures of the best epoch (highest mask
    mAP50-95; the figures are on the run's own validation split, which is not held out).
    """
    import csv

    path = Path(out_dir) / "train" / "results.csv"
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        rows = [{k.strip(): v.strip() for k, v in r.items()} for r in csv.DictReader(f)]
    if not rows:
        return {}
    best = max(rows, key=lambda r: float(r.get("metrics/mAP50-95(M)") or 0.0))
    keys = {"box_map50": "metrics/mAP50(B)", "mask_map50": "metrics/mAP50(M)",
            "mask_map50_95": "metrics/mAP50-95(M)"}
    return {"epochs_run": len(rows), "hours": round(float(rows[-1]["time"]) / 3600, 2),
            "best_epoch": int(float(best["epoch"])),
            "best_val": {k: round(float(best[c]), 3) for k, c in keys.items() if best.get(c)}}
