"""The whole training job as one library function: data, training, export, int8, card.

``skypatrol train`` and ``flows.train_flow`` both call :func:`train_and_package`, so a model
trained either way is packaged the same way (ONNX, its int8 copy, the card's provenance).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from models.dataset import CLASSES, DatasetConfig, build_dataset, split_folders
from models.real import RealDatasetConfig, real_training_set
from models.train import TrainConfig, config_dict, run_record, train

#: Synthetic validation worlds (never training seeds).
VAL_SEEDS = (1900, 1901)


@dataclass(frozen=True)
class TrainingJob:
    """What to train on and how.

    Attributes:
        out: folder for the dataset, the training run and the packaged model.
        train: the training hyper-parameters.
        synthetic: the synthetic dataset (ignored when ``data`` is given).
        data: your own YOLO-seg ``data.yaml`` instead of synthetic worlds.
        data_gsd_cm: the GSD of ``data``'s tiles.
        real: folders of real labelled tiles trained on with the synthetic set.
        real_config: how real tiles become images (held-out towns, weight).
        onnx: export ONNX and its int8 copy (the default runtime).
        resume: continue an interrupted run in ``out``.

    """

    out: Path
    train: TrainConfig
    synthetic: DatasetConfig = field(default_factory=DatasetConfig)
    data: Path | None = None
    data_gsd_cm: float = 10.0
    real: tuple[Path, ...] = ()
    real_config: RealDatasetConfig = field(default_factory=RealDatasetConfig)
    onnx: bool = True
    resume: bool = False


def prepare_data(job: TrainingJob, progress: Callable[[int, int], None] | None = None
                 ) -> tuple[Path, float, dict[str, Any]]:
    """The data.yaml to train on, its GSD, and the provenance for the model card."""
    if job.data is not None:
        return job.data, job.data_gsd_cm, {"dataset": {"synthetic": False, "data": str(job.data)}}
    d = job.synthetic
    data_yaml = job.out / "dataset" / "data.yaml"
    meta = job.out / "dataset" / "dataset.json"
    built = json.loads(meta.read_text(encoding="utf-8")).get("config") if meta.exists() else None
    if not data_yaml.exists() or built != json.loads(json.dumps(asdict(d))):
        shutil.rmtree(job.out / "dataset", ignore_errors=True)  # other worlds: anew
        build_dataset(job.out / "dataset", d, val_seeds=VAL_SEEDS, progress=progress)
    prov: dict[str, Any] = {"dataset": {"synthetic": True, "seeds": list(d.seeds),
                                        "val_seeds": list(VAL_SEEDS), "world_size_m": d.size_m,
                                        "tiles_per_epoch": d.tiles_per_epoch,
                                        "renderers": list(d.renderers)}}
    if job.real:
        data_yaml, prov["real"] = real_training_set(job.real, job.out, job.real_config,
                                                    synthetic=job.out / "dataset",
                                                    names=CLASSES)
    return data_yaml, d.gsd_cm, prov


def train_and_package(job: TrainingJob,
                      progress: Callable[[int, int], None] | None = None) -> Path:
    """Build the data, train (or resume), export and card the model; returns the card path."""
    from models.export import package_model
    from models.quantize import calibration_from_data_yaml

    data_yaml, gsd, prov = prepare_data(job, progress)
    best = train(data_yaml, job.out / "run", job.train, resume=job.resume)
    calibration: Sequence[Path] = calibration_from_data_yaml(data_yaml) if job.onnx else ()
    card = package_model(best, job.out / "model", classes=CLASSES, gsd_cm=gsd,
                         imgsz=job.train.imgsz,
                         training={"train": config_dict(job.train),
                                   "run": run_record(job.out / "run"), **prov},
                         onnx=job.onnx, calibration=calibration)
    return set_score_thresholds(card, best, split_folders(data_yaml, "val"),
                                job.train.imgsz)


def set_score_thresholds(card_path: Path, weights: Path, val_dirs: Sequence[Path],
                         imgsz: int) -> Path:
    """Set the card's building threshold where its F1 on the validation images peaks.

    Billboards keep the shipped model's low threshold (0.3) and their board-shape test. The
    F1 table is kept in the card (``training.score_calibration``).
    """
    import json

    from models.calibrate import best_threshold
    from models.card import ModelCard

    images = [d for d in val_dirs if any(Path(d).glob("*.jpg"))]
    if not images:
        return card_path
    t, info = best_threshold(weights, images, CLASSES.index("building"), imgsz)
    data = json.loads(card_path.read_text(encoding="utf-8"))
    data["class_score_thresholds"] = {**data.get("class_score_thresholds", {}),
                                      "billboard": 0.3, "building": t}
    data["training"]["score_calibration"] = {"class": "building", "threshold": t,
                                             "val_dirs": [str(d) for d in images], **info}
    data["classes"] = tuple(data["classes"])
    return ModelCard(**data).save(card_path)
