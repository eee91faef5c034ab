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


@task(cache_policy=NO_CACHE)
def learn_task(cases: str, out: str, base_card: str | None, epochs: int,
               device: str, replay: float = 0.0) -> dict[str, object]:
    """Reviewed tiles, fine-tune, judgement on the held-out reviews, promotion."""
    from pipeline.learn import LearnConfig, learn_from_reviews
    from pipeline.register_pg import register_ref

    return learn_from_reviews(register_ref(cases), Path(out),
                              Path(base_card) if base_card else None,
                              LearnConfig(epochs=epochs, device=device, replay=replay))


@flow(name="learn-from-reviews", log_prints=True)
def learn_flow(cases: str, out: str, base_card: str | None = None, epochs: int = 12,
               device: str = "cpu", replay: float = 0.0) -> dict[str, object]:
    """Fine-tune the model on the analysts' reviews of the register's surveys.

    The same job as ``skypatrol train --from-reviews`` (``pipeline.learn``); the new model
    is promoted only when it is better on the held-out reviews (``promoted`` in the report).
    """
    report = learn_task(cases, out, base_card, epochs, device, replay)
    print(f"held out: {report['held_out']}; promoted: {report['promoted']}")
    return report
