"""Image-quality gate: imagery too dark, blank or blurred for the model is not evidence.

A survey's imagery is also evidence that a case is gone. Black, blank or heavily blurred
imagery shows no structures, so without this gate it would "resolve" every case it covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the gate.

    Attributes:
        model_gsd_m: the model's GSD; sharpness is measured at it (what the model sees).
        window_px: side of the sampled windows at the model's GSD.
        max_windows: at most this many windows are read (spread over the raster).
        max_dark_or_blown: refuse when more than this share of the valid pixels is
            near-black (< 12) or blown out (> 243) in every channel.
        min_sharpness: refuse when the sharpest quarter of the windows has a mean absolute
            Laplacian (grey levels, at the model's GSD or the raster's own if coarser)
            below this. Measured (docs/checks.md) on two synthetic worlds and 18 RAMP
            patches of three towns at 7-30 cm: sharp imagery 4.7-15.5; blurred with a
            Gaussian of sigma 0.2 m, 1.4-2.7; of 0.4 m, 0.8-1.5.

    """

    model_gsd_m: float = 0.10
    window_px: int = 384
    max_windows: int = 16
    max_dark_or_blown: float = 0.9
    min_sharpness: float = 3.0

    def __post_init__(self) -> None:
        if not (self.model_gsd_m > 0 and 64 <= self.window_px <= 4096
                and 1 <= self.max_windows <= 256 and 0 < self.max_dark_or_blown <= 1
                and self.min_sharpness >= 0):
            raise ValueError("quality: model_gsd_m > 0, window_px 64-4096, max_windows "
                             "1-256, max_dark_or_blown in (0, 1], min_sharpness >= 0")


@dataclass(frozen=True)
class Quality:
    """What the gate measured on one raster."""

    dark_or_blown: float
    sharpness: float | None  # None: too little valid imagery in any window to measure
    valid_share: float

    def problem(self, cfg: QualityConfig) -> str | None:
        """Why the imagery cannot be used, or None when it can."""
        if self.valid_share <= 0:
            return "holds no valid pixels (all nodata)"
        if self.dark_or_blown > cfg.max_dark_or_blown:
            return (f"{self.dark_or_blown:.0%} of its pixels are black or blown out "
                    "(under- or over-exposed, or blank)")
        if self.sharpness is not None and self.sharpness < cfg.min_sharpness:
            return (f"too blurred for the model: sharpness {self.sharpness:.1f} at "
                    f"{cfg.model_gsd_m * 100:.0f} cm/px, at least {cfg.min_sharpness:g} needed")
        return None


def measure(ds: rasterio.io.DatasetReader | WarpedVRT, cfg: QualityConfig) -> Quality:
    """Exposure and sharpness of a raster, read at the model's GSD in a few windows."""
    gsd = abs(ds.transform.a)
    # at the model's GSD, or the raster's own where coarser (upsampling adds false edges)
    at_m = max(cfg.model_gsd_m, gsd)
    step = max(1, int(round(cfg.window_px * at_m / gsd)))  # source pixels a window
    rows = max(1, int(np.ceil(ds.height / step)))
    cols = max(1, int(np.ceil(ds.width / step)))
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    if len(cells) > cfg.max_windows:
        pick = np.linspace(0, len(cells) - 1, cfg.max_windows).round().astype(int)
        cells = [cells[i] for i in pick]
    sharp, dark, valid, total = [], 0, 0, 0
    bands = [1, 2, 3]
    for r, c in cells:
        win = Window(c * step, r * step, min(step, ds.width - c * step),
                     min(step, ds.height - r * step))
        h = max(8, int(round(win.height * gsd / at_m)))
        w = max(8, int(round(win.width * gsd / at_m)))
        img = ds.read(bands, window=win, out_shape=(len(bands), h, w),
                      resampling=Resampling.average)
        ok = ds.read_masks(1, window=win, out_shape=(h, w),
                           resampling=Resampling.nearest) > 0
        total += ok.size
        n_valid, n_dark, s = _window_stats(img, ok)
        valid, dark = valid + n_valid, dark + n_dark
        if s is not None:
            sharp.append(s)
    if not valid and _any_valid(ds):  # the sampled windows missed a narrow strip of imagery
        return Quality(dark_or_blown=0.0, sharpness=None, valid_share=1e-6)
    sharpness = float(np.percentile(sharp, 75)) if sharp else None
    return Quality(dark_or_blown=dark / valid if valid else 1.0, sharpness=sharpness,
                   valid_share=valid / total if total else 0.0)


def _window_stats(img: np.ndarray, ok: np.ndarray) -> tuple[int, int, float | None]:
    """Valid pixels, black-or-blown pixels and sharpness of one CHW window at its GSD."""
    if not ok.any():
        return 0, 0, None
    px = img.reshape(img.shape[0], -1)[:, ok.ravel()]
    dark = int(((px < 12).all(axis=0) | (px > 243).all(axis=0)).sum())
    grey = img.mean(axis=0).astype(np.float32)
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=1))
    inner = cv2.erode(ok.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    sharp = float(lap[inner].mean()) if inner.sum() >= 64 else None
    return int(ok.sum()), dark, sharp


def measure_photo(rgb: np.ndarray, gsd_m: float, cfg: QualityConfig) -> Quality:
    """Exposure and sharpness of a whole drone photo (HWC RGB) at the model's GSD.

    Measured as an orthophoto is, in windows of ``window_px`` after resampling the photo to
    the model's GSD (or keeping its own where coarser).
    """
    at_m = max(cfg.model_gsd_m, gsd_m)
    k = gsd_m / at_m
    small = cv2.resize(rgb, (max(8, round(rgb.shape[1] * k)), max(8, round(rgb.shape[0] * k))),
                       interpolation=cv2.INTER_AREA)
    img = np.moveaxis(small, 2, 0)
    ok = np.ones(small.shape[:2], bool)
    sharp, dark, valid = [], 0, 0
    n = cfg.window_px
    for r0 in range(0, small.shape[0], n):
        for c0 in range(0, small.shape[1], n):
            v, d, s = _window_stats(img[:, r0:r0 + n, c0:c0 + n], ok[r0:r0 + n, c0:c0 + n])
            valid, dark = valid + v, dark + d
            if s is not None:
                sharp.append(s)
    return Quality(dark_or_blown=dark / valid if valid else 1.0,
                   sharpness=float(np.percentile(sharp, 75)) if sharp else None,
                   valid_share=1.0 if valid else 0.0)


def _any_valid(ds: rasterio.io.DatasetReader | WarpedVRT) -> bool:
    """Whether any pixel is valid, from the mask read small (at most 1024 px a side)."""
    scale = max(1, int(np.ceil(max(ds.width, ds.height) / 1024)))
    mask = ds.read_masks(1, out_shape=(max(1, ds.height // scale), max(1, ds.width // scale)),
                         resampling=Resampling.max)
    return bool(mask.any())
