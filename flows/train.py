"""``train_flow``: the training job (``models.recipe``) as one Prefect task."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NONE as NO_CACHE

from models.dataset import DatasetConfig
from models.recipe import TrainingJob, train_and_package
from models.train import TrainConfig


@task(cache_policy=NO_CACHE)
def train_task(job: TrainingJob) -> str:
    """Data, training, ONNX and int8 export, model card; returns the card path."""
    return str(train_and_package(job))


@flow(name="train", log_prints=True)
def train_flow(
    out: str,
    data: str | None = None,
    data_gsd_cm: float = 10.0,
    worlds: int = 14,
    world_size_m: float = 240.0,
    tiles: int = 55,
    epochs: int = 18,
    imgsz: int = 384,
    batch: int = 16,
    device: str = "cpu",
    resume: bool = False,
    real: list[str] | None = None,
) -> str:
    """Train the detection model from synthetic worlds (or ``data``), package it, card it.

    The same job as ``skypatrol train`` (``models.recipe.train_and_package``).
    """
    job = TrainingJob(
        out=Path(out), train=TrainConfig(epochs=epochs, imgsz=imgsz, batch=batch, device=device),
        synthetic=DatasetConfig(seeds=tuple(range(1000, 1000 + worlds)), size_m=world_size_m,
                                imgsz=imgsz, tiles_per_epoch=tiles),
        data=Path(data) if data else None, data_gsd_cm=data_gsd_cm,
        real=tuple(Path(r) for r in real or ()), resume=resume)
    return train_task(job)
