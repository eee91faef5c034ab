"""Shared fixtures: small GeoTIFFs, tiny seeded worlds, Prefect/ultralytics offline settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import settings

# no per-example deadline: the suite shares two cores with training runs and CI
settings.register_profile("skypatrol", deadline=None, max_examples=60)
settings.load_profile("skypatrol")

os.environ.setdefault("YOLO_OFFLINE", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")


@pytest.fixture
def make_geotiff(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write a small RGB GeoTIFF with the given size, transform and CRS."""

    def make(
        width: int = 64,
        height: int = 64,
        transform: Affine | None = None,
        crs: str | None = "EPSG:4549",
        data: np.ndarray | None = None,
        name: str = "img.tif",
        **profile: object,
    ) -> Path:
        path = tmp_path / name
        if data is None:
            rng = np.random.default_rng(0)
            data = rng.integers(0, 255, (3, height, width), dtype=np.uint8)
        kw: dict[str, object] = {
            "driver": "GTiff", "width": width, "height": height, "count": data.shape[0],
            "dtype": data.dtype,
            "transform": transform or Affine(0.05, 0, 529000, 0, -0.05, 3493000),
        }
        if crs is not None:
            kw["crs"] = crs
        kw.update(profile)
        with rasterio.open(path, "w", **kw) as dst:
            dst.write(data)
        return path

    return make


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 140 m, two-epoch synthetic world at 5 cm with frames (seed 7), made once per session."""
    from geodata.synthetic import WorldConfig, synthesize

    root = tmp_path_factory.mktemp("world")
    synthesize(root, WorldConfig(size_m=140.0, seed=7, epochs=2, violation_density=4.0))
    return root


@pytest.fixture(scope="session")
def postgis_server():
    """A throw-away PostgreSQL + PostGIS cluster on loopback (skips, saying why, without)."""
    from tests.postgis import pg_bin, postgis_server

    if pg_bin() is None:
        pytest.skip("PostgreSQL + PostGIS are not installed (make system-packages installs "
                    "postgresql-15 and postgresql-15-postgis-3)")
    with postgis_server() as url:
        yield url


@pytest.fixture
def pg_register(postgis_server):
    """The URL of a new, empty database for one test's case register."""
    from tests.postgis import new_database

    return new_database(postgis_server)


@pytest.fixture(scope="session")
def surveyed_world(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny world's first epoch surveyed once (no orchestrator): its register and outputs.

    Tests that change the register copy it first (``copy_register_file``).
    """
    import datetime as dt

    from pipeline import survey as sv

    root = tmp_path_factory.mktemp("surveyed")
    spec = sv.SurveySpec((str(tiny_world / "epoch1" / "ortho.tif"),),
                         tiny_world / "registry.gpkg", root / "S1", cases=root / "cases.gpkg",
                         survey_id="S1", survey_date=dt.date(2026, 3, 1))
    summary = sv.run_survey(spec)
    return {"root": root, "cases": root / "cases.gpkg", "registry": tiny_world / "registry.gpkg",
            "ortho": tiny_world / "epoch1" / "ortho.tif", "spec": spec, "summary": summary}


def copy_register_file(src: Path, dst: Path) -> Path:
    """A private copy of a GeoPackage register."""
    import shutil

    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return dst


def free_square(layers: dict, size: float = 5.0, keep_off_m: float = 8.0):
    """A square of open ground inside a register's first survey, away from every case
    (in the register's CRS): where an analyst draws a structure the model missed."""
    import shapely

    cov = layers["surveys"].geometry.iloc[0]
    taken = shapely.union_all(list(layers["cases"].geometry)).buffer(keep_off_m)
    x0, y0, x1, y1 = cov.bounds
    for fx in (0.3, 0.5, 0.7, 0.2, 0.8):
        for fy in (0.3, 0.5, 0.7, 0.2, 0.8):
            sq = shapely.box(x0 + fx * (x1 - x0), y0 + fy * (y1 - y0),
                             x0 + fx * (x1 - x0) + size, y0 + fy * (y1 - y0) + size)
            if cov.contains(sq) and not sq.intersects(taken):
                return sq
    raise AssertionError("no free ground in the surveyed world")
