"""``train_flow``: build the dataset, train, export and card the model (thin Prefect tasks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE as NO_CACHE

from models.dataset import CLASSES, DatasetConfig, build_dataset
from models.export import package_model
from models.train import TrainConfig, config_dict, train


@task(retries=1, cache_policy=NO_CACHE)
def dataset_task(out: str, seeds: list[int], size_m: float, imgsz: int, tiles: int) -> str:
    """Render the synthetic training set (skipped when it is already there)."""
    data_yaml = Path(out) / "data.yaml"
    if data_yaml.exists():
        return str(data_yaml)
    cfg = DatasetConfig(seeds=tuple(seeds), size_m=size_m, imgsz=imgsz, tiles_per_epoch=tiles)
    return str(build_dataset(out, cfg, val_seeds=(1900, 1901)))


@task(cache_policy=NO_CACHE)
def train_task(data_yaml: str, out: str, cfg: TrainConfig, resume: bool) -> str:
    """Train (or resume) and return the best weights."""
    return str(train(data_yaml, out, cfg, resume=resume))


@task(cache_policy=NO_CACHE)
def package_task(weights: str, out: str, gsd_cm: float, imgsz: int,
                 training: dict[str, Any]) -> str:
    """Export to ONNX and write the model card; returns the card path."""
    return str(package_model(weights, out, classes=CLASSES, gsd_cm=gsd_cm, imgsz=imgsz,
                             training=training))


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
) -> str:
    """Train the detection model from synthetic worlds (or ``data``) and package it."""
    cfg = TrainConfig(epochs=epochs, imgsz=imgsz, batch=batch, device=device)
    seeds = list(range(1000, 1000 + worlds))
    if data is None:
        data_yaml = dataset_task(str(Path(out) / "dataset"), seeds, world_size_m, imgsz, tiles)
        gsd = DatasetConfig().gsd_cm
        source = {"synthetic": True, "seeds": seeds, "val_seeds": [1900, 1901],
                  "world_size_m": world_size_m, "tiles_per_epoch": tiles}
    else:
        data_yaml, gsd, source = data, data_gsd_cm, {"synthetic": False, "data": data}
    weights = train_task(data_yaml, str(Path(out) / "run"), cfg, resume)
    return package_task(weights, str(Path(out) / "model"), gsd, imgsz,
                        {"train": config_dict(cfg), "dataset": source})
