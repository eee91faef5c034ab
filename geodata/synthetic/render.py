"""Renders the synthetic district as a nadir orthophoto, window by window, in world coordinates.

Every texture, noise and detail is a function of world position and the seed, never of the
window, so blocks join without seams and any window at any GSD shows the same ground.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
from shapely import STRtree, affinity
from shapely.geometry import LineString, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import split as shp_split

from geodata.synthetic.scene import Scene, Thing

MATERIALS = (
    "none", "asphalt", "concrete", "paving", "grass", "soil", "water", "court", "marking",
    "flat", "gable", "corrugated", "billboard", "tree", "car", "slab", "detail",
)
M = {name: i for i, name in enumerate(MATERIALS)}
# noise amplitudes per material: low (metres), mid (decimetres), fine (pixel grain)
_AMP = np.zeros((len(MATERIALS), 3), np.float32)
for _name, _amp in {
    "asphalt": (0.07, 0.05, 0.08), "concrete": (0.08, 0.05, 0.05), "paving": (0.06, 0.05, 0.07),
    "grass": (0.16, 0.16, 0.12), "soil": (0.14, 0.12, 0.09), "water": (0.05, 0.02, 0.02),
    "court": (0.03, 0.02, 0.03), "marking": (0.05, 0.04, 0.05), "flat": (0.06, 0.05, 0.04),
    "gable": (0.03, 0.04, 0.05), "corrugated": (0.03, 0.02, 0.03), "billboard": (0.02, 0.02, 0.03),
    "tree": (0.10, 0.28, 0.16), "car": (0.02, 0.02, 0.02), "slab": (0.06, 0.05, 0.06),
    "soil_cleared": (0.14, 0.12, 0.09), "detail": (0.02, 0.02, 0.03),
}.items():
    if _name in M:
        _AMP[M[_name]] = _amp
_VEGETATION = np.zeros(len(MATERIALS), bool)
_VEGETATION[[M["grass"], M["tree"]]] = True


@dataclass(frozen=True)
class RenderStyle:
    """How one flight's imagery looks: sun, season, atmosphere and camera.

    Attributes:
        sun_azimuth_deg: direction of the sun, clockwise from north.
        sun_elevation_deg: sun height above the horizon; shadows are h / tan(elevation) long.
        shadow_factor: brightness left in shadow (0..1).
        exposure: overall gain.
        white_balance: per-channel RGB gains.
        saturation: 1 keeps colours, 0 makes grey.
        haze: fraction of haze colour mixed in (0..1).
        season_tint: RGB gains for vegetation (spring green to winter brown).
        noise_dn: sensor noise standard deviation, digital numbers.
        blur_m: optical blur, Gaussian sigma in metres on the ground.

    """

    sun_azimuth_deg: float = 150.0
    sun_elevation_deg: float = 50.0
    shadow_factor: float = 0.5
    exposure: float = 1.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    saturation: float = 1.0
    haze: float = 0.05
    season_tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise_dn: float = 3.0
    blur_m: float = 0.03

    def __post_init__(self) -> None:
        if not 5.0 <= self.sun_elevation_deg <= 90.0:
            raise ValueError(f"sun_elevation_deg must be 5..90, got {self.sun_elevation_deg}")
        if not 0.0 <= self.haze < 1.0 or not 0.0 < self.shadow_factor <= 1.0:
            raise ValueError("haze must be in [0, 1) and shadow_factor in (0, 1]")

    @property
    def shadow_vector(self) -> tuple[float, float]:
        """Ground offset (dx, dy) in metres of the shadow of a point 1 m above ground."""
        az = math.radians(self.sun_azimuth_deg)
        k = 1.0 / math.tan(math.radians(self.sun_elevation_deg))
        return (-math.sin(az) * k, -math.cos(az) * k)


def random_style(seed: int, epoch: int) -> RenderStyle:
    """A wide-ranging random look for one flight, from the world seed and epoch."""
    rng = np.random.default_rng([seed, epoch, 1729])
    season = [(0.95, 1.05, 0.85), (1.0, 1.0, 1.0), (1.12, 1.0, 0.72), (1.15, 1.05, 0.95)]
    tint = season[int(rng.integers(0, len(season)))]
    return RenderStyle(
        sun_azimuth_deg=float(rng.uniform(0, 360)),
        sun_elevation_deg=float(rng.uniform(35, 72)),
        shadow_factor=float(rng.uniform(0.35, 0.65)),
        exposure=float(rng.uniform(0.85, 1.15)),
        white_balance=tuple(float(v) for v in rng.uniform(0.92, 1.08, 3)),  # type: ignore[arg-type]
        saturation=float(rng.uniform(0.75, 1.2)),
        haze=float(rng.uniform(0.0, 0.22)),
        season_tint=tint,
        noise_dn=float(rng.uniform(1.0, 5.0)),
        blur_m=float(rng.uniform(0.01, 0.06)),
    )


# --- world-anchored noise ---------------------------------------------------------------


def _hash(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) values from integer lattice coordinates (a 32-bit integer hash)."""
    with np.errstate(over="ignore"):
        hx = ix.astype(np.int64).astype(np.uint32) * np.uint32(0x8DA6B343)
        h = hx ^ (iy.astype(np.int64).astype(np.uint32) * np.uint32(0xD8163841))
        h ^= np.uint32((seed * 0xCB1AB31F) & 0xFFFFFFFF)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0x5BD1E995)
        h ^= h >> np.uint32(15)
        h *= np.uint32(0x27D4EB2F)
        h ^= h >> np.uint32(16)
    return (h >> np.uint32(8)).astype(np.float32) / np.float32(1 << 24)


def _interp_matrix(coords: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Smoothstep interpolation weights from lattice cells to sample coordinates."""
    t = coords / cell
    i0 = np.floor(t).astype(np.int64)
    f = (t - i0).astype(np.float32)
    s = f * f * (3 - 2 * f)
    base = int(i0.min())
    n = int(i0.max()) - base + 2
    m = np.zeros((coords.size, n), np.float32)
    rows = np.arange(coords.size)
    m[rows, i0 - base] = 1 - s
    m[rows, i0 - base + 1] = s
    return m, np.arange(base, base + n)


def value_noise(xs: np.ndarray, ys: np.ndarray, cell_m: float, seed: int) -> np.ndarray:
    """Smooth value noise in [-1, 1] sampled at world x (columns) and y (rows)."""
    ax, ix = _interp_matrix(xs, cell_m)
    ay, iy = _interp_matrix(ys, cell_m)
    lattice = _hash(ix[None, :], iy[:, None], seed) * 2 - 1
    return (ay @ lattice) @ ax.T


def pixel_noise(col0: int, row0: int, w: int, h: int, seed: int) -> np.ndarray:
    """Roughly Gaussian (unit variance) per-pixel noise anchored to absolute pixel indices."""
    cols = np.arange(col0, col0 + w)[None, :]
    rows = np.arange(row0, row0 + h)[:, None]
    a = _hash(cols, rows, seed)
    b = _hash(cols, rows, seed + 101)
    c = _hash(cols, rows, seed + 202)
    return (a + b + c - 1.5) * 2.0


# --- primitives ---------------------------------------------------------------------------


@dataclass
class _Prim:
    order: float
    geometry: BaseGeometry
    kind: str  # fill | shadow | lit (clear shadow) | outline
    material: str
    color: tuple[float, ...]
    angle: float = 0.0


def _gable_halves(poly: Polygon, angle_deg: float) -> list[Polygon]:
    c = poly.centroid
    a = math.radians(angle_deg)
    r = math.sqrt(poly.area) * 4
    ridge = LineString([(c.x - r * math.cos(a), c.y - r * math.sin(a)),
                        (c.x + r * math.cos(a), c.y + r * math.sin(a))])
    parts = [g for g in shp_split(poly, ridge).geoms if isinstance(g, Polygon)]
    return parts if len(parts) == 2 else [poly]


def _sweep(poly: Polygon, d0: tuple[float, float], d1: tuple[float, float]) -> Polygon:
    """Convex hull of a convex polygon translated by d0 and by d1 (a prism's shadow)."""
    a = affinity.translate(poly, *d0)
    b = affinity.translate(poly, *d1)
    hull: Polygon = a.union(b).convex_hull
    return hull


class Renderer:
    """Draws one epoch of a scene with one style into windows of any size and GSD."""

    def __init__(self, scene: Scene, epoch: int, style: RenderStyle):
        self.scene = scene
        self.epoch = epoch
        self.style = style
        self.seed = scene.config.seed * 1000 + epoch
        self.prims = self._build_prims()
        self.tree = STRtree([p.geometry for p in self.prims])

    # ---- scene -> ordered primitives --------------------------------------------------
    def _build_prims(self) -> list[_Prim]:
        e = self.epoch
        sx, sy = self.style.shadow_vector
        prims: list[_Prim] = []
        for g in self.scene.ground:
            if g.epochs is None or e in g.epochs:
                prims.append(_Prim(g.z, g.geometry, "fill", g.material, g.color))
        hosts = {t.site_id: t for t in self.scene.things if t.object_class == "building"}
        for t in self.scene.things:
            for part in t.removed_parts(e):
                if t.scar == "grass":
                    prims.append(_Prim(9, part.geometry, "fill", "grass", (96, 128, 62)))
                elif t.scar == "soil" or t.note == "extension":
                    prims.append(_Prim(9, part.geometry, "fill", "soil", (150, 128, 96)))
                elif t.scar == "roof":
                    prims.append(_Prim(60, part.geometry, "fill", "flat", (150, 150, 146)))
            fp = t.footprint(e)
            if fp is None:
                continue
            self._thing_prims(t, hosts, prims, sx, sy)
        for d in self.scene.decor:
            if d.epochs is not None and e not in d.epochs:
                continue
            if d.kind == "car":
                prims.append(_Prim(20, _sweep(d.geometry, (0, 0), (sx * 1.4, sy * 1.4)),
                                   "shadow", "none", (0, 0, 0)))
                prims.append(_Prim(25, d.geometry, "fill", "car", d.color))
                ws = affinity.scale(d.geometry, 0.7, 0.7)
                prims.append(_Prim(25.1, ws, "fill", "car", tuple(c * 0.35 for c in d.color)))
            else:
                h = d.height_m
                tree_shadow = _sweep(d.geometry, (sx * h * 0.3, sy * h * 0.3), (sx * h, sy * h))
                prims.append(_Prim(21, tree_shadow, "shadow", "none", (0, 0, 0)))
                prims.append(_Prim(90, d.geometry, "fill", "tree", d.color))
                c = d.geometry.centroid
                r = math.sqrt(d.geometry.area / math.pi)
                hi = c.buffer(r * 0.55).buffer(0)
                hi = affinity.translate(hi, -sx / math.hypot(sx, sy + 1e-9) * r * 0.3,
                                        -sy / math.hypot(sx, sy + 1e-9) * r * 0.3)
                prims.append(_Prim(90.1, hi.intersection(d.geometry), "fill", "tree",
                                   tuple(min(255.0, v * 1.25) for v in d.color)))
        prims.sort(key=lambda p: p.order)
        return [p for p in prims if not p.geometry.is_empty]

    def _thing_prims(
        self, t: Thing, hosts: dict[str, Thing], prims: list[_Prim], sx: float, sy: float
    ) -> None:
        e = self.epoch
        parts = [p for p in t.parts if e in p.epochs]
        if t.object_class == "cleared_ground":
            for p in parts:
                mat = "slab" if p.style.kind == "slab" else "soil"
                prims.append(_Prim(8, p.geometry, "fill", mat, p.style.color))
            return
        top = t.base_m + t.height_m
        rooftop = t.base_m > 0 and t.object_class == "shed"
        order = 40 + top
        for p in parts:
            g = p.geometry
            if t.object_class == "billboard":
                d0 = (sx * t.base_m, sy * t.base_m)
                d1 = (sx * top, sy * top)
                prims.append(_Prim(22, _sweep(g, d0, d1), "shadow", "none", (0, 0, 0)))
                if t.note == "pole_billboard":
                    c = g.centroid.buffer(0.18, quad_segs=4)
                    prims.append(_Prim(22, _sweep(c, (0, 0), d0), "shadow", "none", (0, 0, 0)))
                    prims.append(_Prim(order, c, "fill", "detail", (90, 90, 92)))
                else:
                    on_roof = _sweep(g, (0, 0), (sx * t.height_m, sy * t.height_m))
                    prims.append(_Prim(order - 0.05, on_roof, "shadow", "none", (0, 0, 0)))
                prims.append(_Prim(order, g, "fill", "billboard", p.style.color))
                prims.append(_Prim(order + 0.01, g, "outline", "billboard", (235, 235, 230)))
                continue
            if rooftop:
                prims.append(_Prim(order - 0.05, _sweep(g, (0, 0), (sx * t.height_m,
                                                                     sy * t.height_m)),
                                   "shadow", "none", (0, 0, 0)))
            else:
                prims.append(_Prim(22, _sweep(g, (0, 0), (sx * top, sy * top)), "shadow", "none",
                                   (0, 0, 0)))
            st = p.style
            if st.kind == "gable":
                halves = _gable_halves(g, st.angle_deg)
                az = math.radians(self.style.sun_azimuth_deg)
                sun = (math.sin(az), math.cos(az))
                for h in halves:
                    c = h.centroid
                    n = (c.x - g.centroid.x, c.y - g.centroid.y)
                    nl = math.hypot(*n) or 1.0
                    f = 1.0 + 0.28 * (n[0] * sun[0] + n[1] * sun[1]) / nl
                    prims.append(_Prim(order, h, "fill", "gable",
                                       tuple(min(255.0, v * f) for v in st.color)))
                prims.append(_Prim(order + 0.01, g, "outline", "gable",
                                   tuple(v * 0.7 for v in st.color)))
            elif st.kind == "corrugated":
                prims.append(_Prim(order, g, "fill", "corrugated", st.color, st.angle_deg))
                prims.append(_Prim(order + 0.01, g, "outline", "corrugated",
                                   tuple(v * 0.8 for v in st.color)))
            else:
                prims.append(_Prim(order, g, "fill", "flat", st.color))
                prims.append(_Prim(order + 0.01, g, "outline", "flat",
                                   tuple(min(255.0, v * 1.18) for v in st.color)))
            if st.details and p is t.parts[0]:
                self._details(t, g, st.details, order, prims, sx, sy)

    def _details(self, t: Thing, g: Polygon, n: int, order: float, prims: list[_Prim],
                 sx: float, sy: float) -> None:
        rng = np.random.default_rng([self.scene.config.seed, zlib.crc32(t.site_id.encode())])
        inner = g.buffer(-1.5)
        if inner.is_empty:
            return
        x0, y0, x1, y1 = inner.bounds
        for _ in range(n):
            kind = rng.choice(["ac", "ac", "tank", "solar"])
            cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if kind == "tank":
                d = box(cx - 0.7, cy - 0.7, cx + 0.7, cy + 0.7).centroid.buffer(0.7, quad_segs=6)
                color, h = (215, 220, 228) if rng.random() < 0.5 else (60, 90, 170), 1.5
            elif kind == "solar":
                d = box(cx - 1.7, cy - 1.0, cx + 1.7, cy + 1.0)
                color, h = (35, 45, 80), 0.4
            else:
                d = box(cx - 0.5, cy - 0.4, cx + 0.5, cy + 0.4)
                color, h = (200, 202, 205), 0.7
            if not inner.contains(d):
                continue
            prims.append(_Prim(order + 0.02, _sweep(d, (0, 0), (sx * h, sy * h)), "shadow", "none",
                               (0, 0, 0)))
            prims.append(_Prim(order + 0.03, d, "fill", "detail", color))

    # ---- drawing ----------------------------------------------------------------------
    def render(self, left: float, top: float, gsd_m: float, width: int, height: int,
               row0: int = 0, col0: int = 0) -> np.ndarray:
        """Render an RGB uint8 (HWC) window.

        Args:
            left, top: world coordinates of the window's top-left pixel *edge*.
            gsd_m: metres per pixel.
            width, height: window size in pixels.
            row0, col0: the window's offset in its raster, which anchors per-pixel noise.

        """
        pad = int(math.ceil(3 * self.style.blur_m / gsd_m)) + 2
        W, H = width + 2 * pad, height + 2 * pad
        L, T = left - pad * gsd_m, top + pad * gsd_m
        base = np.zeros((H, W, 3), np.float32)
        base[:] = (110, 120, 90)
        mat = np.full((H, W), M["grass"], np.uint8)
        shade = np.ones((H, W), np.float32)
        angle = np.zeros((H, W), np.float32)
        win = box(L, T - H * gsd_m, L + W * gsd_m, T)
        idx = np.sort(self.tree.query(win, predicate="intersects"))
        for i in idx:
            p = self.prims[int(i)]
            pts = self._pts(p.geometry, L, T, gsd_m)
            if not pts:
                continue
            if p.kind == "shadow":
                cv2.fillPoly(shade, pts, self.style.shadow_factor, cv2.LINE_8, 4)
                continue
            if p.kind == "outline":
                th = max(1, int(round(0.25 / gsd_m)))
                cv2.polylines(base, pts, True, p.color, th, cv2.LINE_8, 4)
                continue
            cv2.fillPoly(base, pts, p.color, cv2.LINE_8, 4)
            cv2.fillPoly(mat, pts, M[p.material], cv2.LINE_8, 4)
            if p.order >= 25:  # anything above the ground is lit by its own light
                cv2.fillPoly(shade, pts, 1.0, cv2.LINE_8, 4)
            if p.material == "corrugated":
                cv2.fillPoly(angle, pts, math.radians(p.angle) + 1e-3, cv2.LINE_8, 4)
        img = self._texture(base, mat, angle, L, T, gsd_m)
        img *= shade[:, :, None]
        img = self._camera(img, gsd_m, row0 - pad, col0 - pad)
        return img[pad:pad + height, pad:pad + width]

    @staticmethod
    def _pts(g: BaseGeometry, L: float, T: float, gsd: float) -> list[np.ndarray]:
        polys = [g] if isinstance(g, Polygon) else [
            q for q in getattr(g, "geoms", []) if isinstance(q, Polygon)
        ]
        out = []
        for poly in polys:
            for ring in (poly.exterior, *poly.interiors):
                xy = np.asarray(ring.coords)
                px = np.empty_like(xy)
                px[:, 0] = (xy[:, 0] - L) / gsd - 0.5
                px[:, 1] = (T - xy[:, 1]) / gsd - 0.5
                out.append(np.round(px * 16).astype(np.int32))
        return out

    def _texture(self, base: np.ndarray, mat: np.ndarray, angle: np.ndarray, L: float, T: float,
                 gsd: float) -> np.ndarray:
        H, W = mat.shape
        xs = L + (np.arange(W, dtype=np.float64) + 0.5) * gsd
        ys = T - (np.arange(H, dtype=np.float64) + 0.5) * gsd
        s = self.seed
        low = value_noise(xs, ys, 5.0, s) * 0.7 + value_noise(xs, ys, 1.7, s + 1) * 0.3
        mid = value_noise(xs, ys, max(0.35, 4 * gsd), s + 2)
        fine = value_noise(xs, ys, max(0.1, 1.5 * gsd), s + 3)
        amp = _AMP[mat]
        f = 1.0 + amp[:, :, 0] * low + amp[:, :, 1] * mid + amp[:, :, 2] * fine
        img = base * f[:, :, None]
        veg = _VEGETATION[mat]
        if veg.any():
            img[veg] *= np.asarray(self.style.season_tint, np.float32)
        cor = angle != 0
        if cor.any():
            rr, cc = np.nonzero(cor)
            a = angle[rr, cc]
            phase = (xs[cc] * np.cos(a) + ys[rr] * np.sin(a)) / 0.32
            rib = 1.0 + 0.09 * np.sin(2 * np.pi * phase).astype(np.float32)
            img[rr, cc] *= rib[:, None]
        return img

    def _camera(self, img: np.ndarray, gsd: float, row0: int, col0: int) -> np.ndarray:
        st = self.style
        img *= np.asarray(st.white_balance, np.float32) * st.exposure
        grey = img.mean(axis=2, keepdims=True)
        img = grey + (img - grey) * st.saturation
        img = img * (1 - st.haze) + np.asarray((196, 202, 210), np.float32) * st.haze
        sigma = st.blur_m / gsd
        if sigma > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        H, W = img.shape[:2]
        img += pixel_noise(col0, row0, W, H, self.seed)[:, :, None] * st.noise_dn
        return np.clip(img, 0, 255).astype(np.uint8)
