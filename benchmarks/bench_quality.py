"""The image-quality gate's sharpness on sharp and blurred imagery (its threshold's evidence).

Synthetic worlds (seeds 3 and 8) and, when ``SKYPATROL_REAL_DATA`` (default ``data/real``)
holds the RAMP tiles, patches of three of its towns; each as it is and blurred with a
Gaussian of sigma 0.1, 0.2 and 0.4 m.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rasterio

from benchmarks.common import machine

SIGMAS_M = (0.0, 0.1, 0.2, 0.4)


def _blurred(src: Path, dst: Path, sigma_m: float) -> Path:
    with rasterio.open(src) as ds:
        profile, data, gsd = ds.profile, ds.read(), abs(ds.transform.a)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(np.stack([cv2.GaussianBlur(b, (0, 0), sigma_m / gsd) for b in data]))
    return dst


def run() -> dict[str, Any]:
    from geodata.synthetic import WorldConfig, synthesize
    from models.real import DEFAULT_HOLD_OUT, HoldOut, find_tiles
    from pipeline.quality import QualityConfig, measure
    from pipeline.real_evaluation import town_mosaics

    cfg = QualityConfig()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        sources: list[tuple[str, float, Path]] = []
        for seed, gsd in ((3, 5.0), (8, 8.0)):
            synthesize(t / f"w{seed}", WorldConfig(size_m=120, seed=seed, epochs=1,
                                                   gsd_cm=gsd), frames=False)
            sources.append((f"synthetic {seed}", gsd, t / f"w{seed}" / "epoch1" / "ortho.tif"))
        real = Path(os.environ.get("SKYPATROL_REAL_DATA", "data/real"))
        if real.is_dir():
            tiles = find_tiles([real])
            for town in (DEFAULT_HOLD_OUT[0], HoldOut("tanzania", 39.2, -6.14),
                         HoldOut("philippines", 124.28, 14.09)):
                patches = town_mosaics([x for x in tiles if town.holds(*x.lonlat)],
                                       t / town.name)
                sources += [(town.name, p["gsd_cm"], Path(p["path"])) for p in patches[:6]]
        for name, gsd, path in sources:
            row: dict[str, Any] = {"imagery": name, "gsd_cm": round(gsd, 1)}
            for sigma in SIGMAS_M:
                p = path if sigma == 0 else _blurred(path, t / "blur.tif", sigma)
                with rasterio.open(p) as ds:
                    row[f"sigma_{sigma:g}m"] = round(measure(ds, cfg).sharpness, 2)
            rows.append(row)
    return {"benchmark": "quality", "min_sharpness": cfg.min_sharpness, "rows": rows,
            "machine": machine()}
