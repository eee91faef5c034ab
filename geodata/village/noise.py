"""World-anchored hashing and value noise: the same value at the same place in every window."""

from __future__ import annotations

import numpy as np

_MASK = 0xFFFFFFFF


def hash2(i: np.ndarray, j: np.ndarray, seed: int) -> np.ndarray:
    """A uniform [0, 1) value per integer lattice point (i, j), float32."""
    ii = np.asarray(i, dtype=np.int64)
    jj = np.asarray(j, dtype=np.int64)
    shape = np.broadcast_shapes(ii.shape, jj.shape)
    a = np.atleast_1d(ii).astype(np.uint64)
    b = np.atleast_1d(jj).astype(np.uint64)
    m = np.uint64(_MASK)
    with np.errstate(over="ignore"):
        h = (a * np.uint64(374761393) + b * np.uint64(668265263)
             + np.uint64((seed * 2246822519) % 4294967291)) & m
        h = ((h ^ (h >> np.uint64(13))) * np.uint64(1274126177)) & m
        h = h ^ (h >> np.uint64(16))
        h = ((h ^ (h >> np.uint64(7))) * np.uint64(2654435761)) & m
        h = h ^ (h >> np.uint64(15))
    return (h.astype(np.float64) / 4294967296.0).astype(np.float32).reshape(shape)


def _axis(coords: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    g = coords / scale
    i = np.floor(g).astype(np.int64)
    f = (g - i).astype(np.float32)
    return i, f * f * (3.0 - 2.0 * f)


def value_noise(xs: np.ndarray, ys: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """Smooth noise in [0, 1) on the grid ``ys`` (rows) x ``xs`` (columns), world metres.

    The lattice is anchored to world coordinates, so any two windows agree where they overlap.
    """
    ix, fx = _axis(np.asarray(xs, dtype=np.float64), scale)
    iy, fy = _axis(np.asarray(ys, dtype=np.float64), scale)
    x0, y0 = int(ix.min()), int(iy.min())
    gx = np.arange(x0, int(ix.max()) + 2)
    gy = np.arange(y0, int(iy.max()) + 2)
    lat = hash2(gx[None, :], gy[:, None], seed)
    cx, cy = ix - x0, iy - y0
    top = lat[cy]
    bot = lat[cy + 1]
    a = top[:, cx] * (1 - fx) + top[:, cx + 1] * fx
    b = bot[:, cx] * (1 - fx) + bot[:, cx + 1] * fx
    return a * (1 - fy)[:, None] + b * fy[:, None]


def fbm(xs: np.ndarray, ys: np.ndarray, scale: float, seed: int, octaves: int = 3) -> np.ndarray:
    """Sum of ``octaves`` value noises (halving scale), normalised to about [0, 1]."""
    out = np.zeros((len(ys), len(xs)), np.float32)
    amp, tot = 1.0, 0.0
    for k in range(octaves):
        out += amp * value_noise(xs, ys, scale / (2 ** k), seed + 101 * k)
        tot += amp
        amp *= 0.5
    return out / tot
