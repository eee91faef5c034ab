"""Raster I/O: block-wise writing of tiled, Cloud-Optimized GeoTIFFs with overviews."""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.shutil import copy as rio_copy
from rasterio.windows import Window

#: GDAL block cache for our writers, bytes; keeps memory bounded whatever the raster size.
GDAL_CACHE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class GridSpec:
    """A north-up pixel grid: size in pixels, affine transform and CRS.

    The transform maps pixel *edges* (col, row) to world coordinates, as rasterio does.
    """

    width: int
    height: int
    transform: Affine
    crs: str

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"grid size must be positive, got {self.width}x{self.height}")
        if self.transform.b != 0 or self.transform.d != 0 or self.transform.e >= 0:
            raise ValueError("GridSpec is for north-up grids (no rotation, negative y step)")

    @property
    def gsd_m(self) -> float:
        """Ground sample distance in metres per pixel."""
        return float(self.transform.a)

    def window_bounds(self, window: Window) -> tuple[float, float, float, float]:
        """World bounds (left, bottom, right, top) of a pixel window, from its pixel edges."""
        return rasterio.windows.bounds(window, self.transform)


def iter_blocks(width: int, height: int, block: int) -> Iterator[Window]:
    """Yield windows of at most ``block`` x ``block`` pixels covering the grid row by row."""
    if block <= 0:
        raise ValueError(f"block size must be positive, got {block}")
    for row in range(0, height, block):
        for col in range(0, width, block):
            yield Window(col, row, min(block, width - col), min(block, height - row))


def write_cog(
    path: str | os.PathLike[str],
    grid: GridSpec,
    render_block: Callable[[Window], np.ndarray],
    *,
    block: int = 1024,
    quality: int = 90,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render a 3-band RGB raster block by block and store it as a Cloud-Optimized GeoTIFF.

    Blocks are written to a temporary tiled GeoTIFF, then GDAL's COG driver copies it with
    JPEG-compressed 512-pixel tiles and averaged overviews. Peak memory is a few blocks plus
    the GDAL cache, whatever the raster size.

    Args:
        path: output file.
        grid: pixel grid and CRS.
        render_block: returns an ``(h, w, 3)`` uint8 RGB array for a window (HWC, RGB).
        block: render block size in pixels (a multiple of 512 keeps writes tile-aligned).
        quality: JPEG quality of the final COG (1–100).
        progress: called with (blocks done, blocks total) after each block.

    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    windows = list(iter_blocks(grid.width, grid.height, block))
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 3,
        "dtype": "uint8",
        "crs": CRS.from_user_input(grid.crs),
        "transform": grid.transform,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "predictor": 2,
        "bigtiff": "if_safer",
        "photometric": "rgb",
    }
    fd, tmp_name = tempfile.mkstemp(suffix=".tmp.tif", dir=out.parent)
    os.close(fd)
    try:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES, GDAL_NUM_THREADS="ALL_CPUS"):
            with rasterio.open(tmp_name, "w", **profile) as dst:
                for i, win in enumerate(windows):
                    rgb = render_block(win)
                    if rgb.shape != (int(win.height), int(win.width), 3) or rgb.dtype != np.uint8:
                        raise ValueError(
                            f"render_block returned {rgb.shape} {rgb.dtype} for window {win}"
                        )
                    dst.write(np.moveaxis(rgb, 2, 0), window=win)
                    if progress is not None:
                        progress(i + 1, len(windows))
            rio_copy(
                tmp_name,
                str(out),
                driver="COG",
                COMPRESS="JPEG",
                QUALITY=str(quality),
                BLOCKSIZE="512",
                OVERVIEW_RESAMPLING="AVERAGE",
                BIGTIFF="IF_SAFER",
                NUM_THREADS="ALL_CPUS",
            )
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return out


#: Rasters ``rgb_sources`` keeps open at once (the least recently used is closed): a survey of
#: thousands of photos must not run out of file handles.
MAX_OPEN_RASTERS = 64


@contextmanager
def rgb_sources(max_open: int = MAX_OPEN_RASTERS
                ) -> Iterator[Callable[[str], rasterio.io.DatasetReader | None]]:
    """Keep source rasters open while the block runs (GDAL's block cache is per dataset).

    ``get(path)`` gives the open dataset, or None where it cannot be read, has no CRS or
    fewer than three bands (the checks that look at a finding's pixels then skip it). At most
    ``max_open`` stay open; a dataset is valid until ``max_open`` other rasters were asked for.
    """
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
        opened: OrderedDict[str, rasterio.io.DatasetReader] = OrderedDict()
        unusable: set[str] = set()

        def get(path: str) -> rasterio.io.DatasetReader | None:
            if path in opened:
                opened.move_to_end(path)
                return opened[path]
            if path in unusable:
                return None
            try:
                ds = rasterio.open(path)
            except rasterio.errors.RasterioIOError:
                unusable.add(path)
                return None
            if ds.crs is None or ds.count < 3:
                ds.close()
                unusable.add(path)
                return None
            opened[path] = ds
            while len(opened) > max_open:
                opened.popitem(last=False)[1].close()
            return ds

        try:
            yield get
        finally:
            for ds in opened.values():
                ds.close()
