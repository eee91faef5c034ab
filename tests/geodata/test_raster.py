import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import given
from hypothesis import strategies as st

from geodata.raster import GridSpec, iter_blocks, write_cog


@given(st.integers(1, 3000), st.integers(1, 3000), st.integers(1, 1100))
def test_blocks_cover_grid_exactly_once(width, height, block):
    wins = list(iter_blocks(width, height, block))
    assert sum(int(w.width) * int(w.height) for w in wins) == width * height
    for w in wins:
        assert 0 < w.width <= block and 0 < w.height <= block
        assert w.col_off + w.width <= width and w.row_off + w.height <= height


def test_gridspec_refuses_rotated_or_empty():
    with pytest.raises(ValueError):
        GridSpec(0, 10, Affine(1, 0, 0, 0, -1, 0), "EPSG:4549")
    with pytest.raises(ValueError):
        GridSpec(10, 10, Affine(1, 0.2, 0, 0, -1, 0), "EPSG:4549")


def test_window_bounds_use_pixel_edges():
    g = GridSpec(100, 100, Affine(0.5, 0, 1000, 0, -0.5, 2000), "EPSG:4549")
    win = next(iter_blocks(100, 100, 10))
    assert g.window_bounds(win) == (1000.0, 1995.0, 1005.0, 2000.0)


def test_write_cog_is_tiled_with_overviews(tmp_path):
    grid = GridSpec(1500, 1300, Affine(0.05, 0, 529000, 0, -0.05, 3493000), "EPSG:4549")

    def render(win):
        h, w = int(win.height), int(win.width)
        cols = np.arange(win.col_off, win.col_off + w)
        rows = np.arange(win.row_off, win.row_off + h)
        img = np.zeros((h, w, 3), np.uint8)
        img[:, :, 0] = (cols[None, :] // 6 % 256).astype(np.uint8)
        img[:, :, 1] = (rows[:, None] // 6 % 256).astype(np.uint8)
        img[:, :, 2] = 128
        return img

    seen = []
    path = write_cog(tmp_path / "o.tif", grid, render, block=512,
                     progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (9, 9)
    with rasterio.open(path) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.profile["tiled"] and ds.block_shapes[0] == (512, 512)
        assert ds.overviews(1), "COG must carry overviews"
        assert ds.crs.to_epsg() == 4549 and ds.transform == grid.transform
        data = ds.read(window=((600, 700), (900, 1000)))
    expect = render(rasterio.windows.Window(900, 600, 100, 100))
    assert np.abs(data.transpose(1, 2, 0).astype(int) - expect).mean() < 3
