"""Drawing the village from above: ground, roofs, clutter, trees, shadows and a camera.

Everything that varies over the image is anchored to world coordinates (or to the global pixel
grid of the window's GSD), and each window is drawn with a margin that is cropped after blur,
so windows drawn apart join without a seam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize
from shapely import affinity
from shapely.geometry import MultiPoint, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from geodata.synthetic.scene import Scene
from geodata.village.noise import hash2, value_noise
from geodata.village.world import Item, VillageScene


@dataclass(frozen=True)
class VillageStyle:
    """The look of one flight: sun, season, camera response (plain floats and tuples)."""

    sun_azimuth_deg: float
    sun_elevation_deg: float
    season: float  # 0 lush summer .. 1 brown winter
    white_balance: tuple[float, float, float]
    exposure: float
    exposure_variation: float  # amplitude of the smooth, world-anchored exposure field
    contrast: float
    saturation: float
    haze: float
    haze_color: tuple[float, float, float]
    blur_px: float
    noise_sigma: float
    jpeg_quality: int
    shadow_strength: float
    wetness: float  # darker ground after rain


def random_style(seed: int, epoch: int) -> VillageStyle:
    """A random flight look, deterministic for (seed, epoch); deliberately wide ranges."""
    rng = np.random.default_rng([seed, epoch, 4243])
    wb = rng.normal(1.0, 0.06, 3)
    hz = rng.uniform(0.0, 0.22)
    return VillageStyle(
        sun_azimuth_deg=float(rng.uniform(0, 360)),
        sun_elevation_deg=float(rng.uniform(25, 75)),
        season=float(rng.choice([rng.uniform(0, 0.3), rng.uniform(0.3, 1.0)])),
        white_balance=(float(wb[0]), float(wb[1]), float(wb[2])),
        exposure=float(rng.uniform(0.85, 1.2)),
        exposure_variation=float(rng.uniform(0.0, 0.12)),
        contrast=float(rng.uniform(0.85, 1.2)),
        saturation=float(rng.uniform(0.65, 1.05)),
        haze=float(hz),
        haze_color=(float(rng.uniform(180, 215)), float(rng.uniform(190, 220)),
                    float(rng.uniform(200, 235))),
        blur_px=float(rng.uniform(0.3, 1.3)),
        noise_sigma=float(rng.uniform(1.0, 5.0)),
        jpeg_quality=int(rng.integers(60, 93)),
        shadow_strength=float(rng.uniform(0.45, 0.7)),
        wetness=float(rng.choice([0.0, 0.0, rng.uniform(0, 0.3)])),
    )


MATERIALS = ("field", "asphalt", "sidewalk", "kerb", "paint", "paint_y", "alley", "concrete",
             "scar", "grass", "path", "soil", "gravel", "pit", "paving", "water", "bank",
             "track", "turf", "court")
_MAT = {m: i for i, m in enumerate(MATERIALS)}
_GRASS = (np.array([70, 118, 48], np.float32), np.array([150, 136, 92], np.float32))
_LEAF = (np.array([46, 86, 38], np.float32), np.array([118, 100, 66], np.float32))


def _contours(g: BaseGeometry) -> list[np.ndarray]:
    out = []
    for p in getattr(g, "geoms", [g]):
        if p.geom_type != "Polygon" or p.is_empty:
            continue
        out.append(np.asarray(p.exterior.coords)[:-1])
        out += [np.asarray(r.coords)[:-1] for r in p.interiors]
    return out


@dataclass
class _Drawn:
    """An item ready to draw: contours in local metres, its shadow, and its frame."""

    item: Item
    rings: list[np.ndarray]
    shadow: list[list[np.ndarray]]  # separately filled pieces (their union)
    bounds: tuple[float, float, float, float]
    cx: float
    cy: float
    half_len: float
    half_wid: float


class VillageRenderer:
    """Renders one epoch of a :class:`VillageScene` in any north-up window."""

    def __init__(self, scene: Scene, epoch: int, style: VillageStyle):
        if not isinstance(scene, VillageScene):
            raise TypeError("VillageRenderer draws VillageScene worlds (geodata.village)")
        self.scene, self.epoch, self.style = scene, epoch, style
        self.ox, self.oy = scene.origin
        self.size = scene.config.size_m
        self.seed = scene.config.seed * 7919 + 13
        az, el = math.radians(style.sun_azimuth_deg), math.radians(style.sun_elevation_deg)
        self.sun = (math.sin(az), math.cos(az))  # horizontal direction towards the sun
        k = 1.0 / math.tan(el)
        self.shift = (-self.sun[0] * k, -self.sun[1] * k)  # shadow offset per metre of height
        org = (-self.ox, -self.oy)
        patches = sorted((p for p in scene.patches if p.epochs is None or epoch in p.epochs),
                         key=lambda p: p.z)
        self.patches = patches
        self.patch_geoms = [affinity.translate(p.geometry, *org) for p in patches]
        env = [shapely.envelope(g) for g in self.patch_geoms]
        self.patch_tree = shapely.STRtree(env)
        self.mat_lut = np.array([0] + [_MAT[p.material] for p in patches], np.int16)
        self.tone_lut = np.array([1.0] + [p.tone for p in patches], np.float32)
        self.angle_lut = np.array([0.0] + [p.angle for p in patches], np.float32)
        self.drawn = self._prepare(scene, epoch, org)
        self.item_tree = shapely.STRtree([box(*d.bounds) for d in self.drawn])

    # ------------------------------------------------------------------ preparation
    def _prepare(self, scene: VillageScene, epoch: int, org: tuple[float, float]) -> list[_Drawn]:
        present = [it for it in scene.items if it.epochs is None or epoch in it.epochs]
        groups: dict[str, list[Item]] = {}
        items: list[Item] = []
        for it in present:
            if it.group:
                if it.group not in groups:
                    items.append(it)
                groups.setdefault(it.group, []).append(it)
            else:
                items.append(it)
        out = []
        for it in items:
            geom = it.geometry
            if it.group and len(groups[it.group]) > 1:
                geom = unary_union([g.geometry for g in groups[it.group]])
                if geom.geom_type != "Polygon":
                    geom = geom.buffer(0.01, join_style="mitre").buffer(-0.01,
                                                                       join_style="mitre")
            geom = affinity.translate(geom, *org)
            if geom.geom_type != "Polygon":
                geom = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
            support = it.base if it.support is None else it.support
            lo = max(0.0, it.base - support)
            if it.kind == "tree":
                lo = it.top * 0.45
            hi = it.top - support
            v0 = (self.shift[0] * lo, self.shift[1] * lo)
            v1 = (self.shift[0] * hi, self.shift[1] * hi)
            pieces: list[list[np.ndarray]] = []
            for ring in _contours(geom)[:1] if geom.geom_type == "Polygon" else []:
                if abs(geom.convex_hull.area - geom.area) < 1e-3 * max(geom.area, 1.0):
                    pts = np.vstack([ring + v0, ring + v1])
                    hull = np.asarray(MultiPoint(pts).convex_hull.exterior.coords)[:-1]
                    pieces.append([hull])
                else:
                    pieces.append([ring + v0])
                    pieces.append([ring + v1])
                    for a, b in zip(ring, np.roll(ring, -1, axis=0)):
                        pieces.append([np.array([a + v0, b + v0, b + v1, a + v1])])
            if it.kind == "tree":  # the trunk
                c = geom.centroid
                pieces.append([np.array([[c.x - 0.15, c.y], [c.x + 0.15, c.y],
                                         [c.x + 0.15 + v0[0], c.y + v0[1]],
                                         [c.x - 0.15 + v0[0], c.y + v0[1]]])])
            allpts = np.vstack([np.asarray(geom.exterior.coords)] +
                               [q for p in pieces for q in p])
            mn, mx = allpts.min(axis=0), allpts.max(axis=0)
            c = geom.centroid
            a = math.radians(it.angle)
            ext = np.asarray(geom.exterior.coords)
            half = float(np.abs((ext[:, 0] - c.x) * math.cos(a) +
                                (ext[:, 1] - c.y) * math.sin(a)).max())
            wid = float(np.abs(-(ext[:, 0] - c.x) * math.sin(a) +
                               (ext[:, 1] - c.y) * math.cos(a)).max())
            out.append(_Drawn(it, _contours(geom), pieces, (mn[0], mn[1], mx[0], mx[1]),
                              c.x, c.y, half, wid))
        order = sorted(range(len(out)), key=lambda i: (out[i].item.layer, out[i].item.top, i))
        return [out[i] for i in order]

    # ------------------------------------------------------------------ window
    def render(self, left: float, top: float, gsd_m: float, width: int, height: int,
               row0: int = 0, col0: int = 0) -> np.ndarray:
        """The window's RGB pixels (height x width x 3, uint8); ``left``/``top`` are edges."""
        st = self.style
        pad = int(math.ceil(3 * st.blur_px + 2 + 2.6 / gsd_m)) + 2
        fu = (left - self.ox) / gsd_m
        fv = (self.oy + self.size - top) / gsd_m
        iu, iv = math.floor(fu + 1e-6), math.floor(fv + 1e-6)
        du = 0.0 if abs(fu - iu) < 1e-6 else fu - iu
        dv = 0.0 if abs(fv - iv) < 1e-6 else fv - iv
        c0, r0 = iu - pad, iv - pad
        W, H = width + 2 * pad, height + 2 * pad
        cols = np.arange(c0, c0 + W)
        rows = np.arange(r0, r0 + H)
        xs = (cols + 0.5 + du) * gsd_m
        ys = self.size - (rows + 0.5 + dv) * gsd_m
        ctx = _Ctx(self, gsd_m, xs, ys, cols, rows, c0 + du, r0 + dv)
        img = ctx.ground()
        ctx.items(img)
        out = ctx.camera(img)
        out = out[pad:pad + height, pad:pad + width]
        out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
        if row0 % 8 == 0 and col0 % 8 == 0 and height >= 8 and width >= 8:
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, int(st.jpeg_quality),
                                    cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                    cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
            dec = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
            if dec is not None:
                out = cv2.cvtColor(dec, cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(out)


def _season(pair: tuple[np.ndarray, np.ndarray], s: float) -> np.ndarray:
    return pair[0] * (1 - s) + pair[1] * s


class _Ctx:
    """One window being drawn."""

    def __init__(self, r: VillageRenderer, gsd: float, xs: np.ndarray, ys: np.ndarray,
                 cols: np.ndarray, rows: np.ndarray, ou: float, ov: float):
        self.r, self.gsd, self.xs, self.ys = r, gsd, xs, ys
        self.cols, self.rows = cols, rows
        self.ou, self.ov = ou + 0.5, ov + 0.5  # pixel (0, 0) centre in global pixel units
        self.H, self.W = len(ys), len(xs)
        self.st = r.style
        self.seed = r.seed
        self.hmap = np.zeros((self.H, self.W), np.float32)
        self.shade = np.zeros((self.H, self.W), np.float32)
        self._noise: dict[str, np.ndarray] = {}

    # pixel coordinates (fillPoly, 3 fractional bits) of local-metre points
    def px(self, pts: np.ndarray, c0: int = 0, r0: int = 0) -> np.ndarray:
        u = pts[:, 0] / self.gsd - self.ou - c0
        v = (self.r.size - pts[:, 1]) / self.gsd - self.ov - r0
        return np.round(np.stack([u, v], axis=1) * 8).astype(np.int32)

    def noise(self, name: str) -> np.ndarray:
        if name not in self._noise:
            xs, ys, s = self.xs, self.ys, self.seed
            if name == "big":
                n = 0.6 * value_noise(xs, ys, 11.0, s) + 0.4 * value_noise(xs, ys, 3.7, s + 1)
            elif name == "mid":
                n = 0.6 * value_noise(xs, ys, 1.3, s + 2) + 0.4 * value_noise(xs, ys, 0.55, s + 3)
            elif name == "fine":
                n = value_noise(xs, ys, 0.16, s + 4) if self.gsd < 0.12 else np.full(
                    (self.H, self.W), 0.5, np.float32)
            else:  # per-pixel white noise on the global pixel grid of this GSD
                k = int(round(self.gsd * 1e4))
                n = hash2(self.cols[None, :], self.rows[:, None], s + 5 + k)
            self._noise[name] = n
        return self._noise[name]

    # ------------------------------------------------------------------ ground
    def ground(self) -> np.ndarray:
        r = self.r
        m = 2 * self.gsd
        x0, x1 = self.xs[0] - m, self.xs[-1] + m
        y0, y1 = self.ys[-1] - m, self.ys[0] + m
        ids = sorted(r.patch_tree.query(box(x0, y0, x1, y1)).tolist())
        clipped = shapely.clip_by_rect(np.array([r.patch_geoms[i] for i in ids], dtype=object),
                                       x0, y0, x1, y1) if ids else []
        shapes = [(g, i + 1) for g, i in zip(clipped, ids)
                  if not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon")]
        left = self.xs[0] - self.gsd / 2
        top = self.ys[0] + self.gsd / 2
        transform = Affine(self.gsd, 0, left, 0, -self.gsd, top)
        label = rasterize(shapes, out_shape=(self.H, self.W), transform=transform, fill=0,
                          dtype="int32") if shapes else np.zeros((self.H, self.W), np.int32)
        mat = r.mat_lut[label]
        tone = r.tone_lut[label]
        img = np.zeros((self.H, self.W, 3), np.float32)
        for m in np.unique(mat).tolist():
            rr, cc = np.nonzero(mat == m)
            col = self.material(MATERIALS[m], rr, cc, tone[rr, cc], r.angle_lut[label[rr, cc]])
            img[rr, cc] = col
        return img

    def material(self, m: str, rr: np.ndarray, cc: np.ndarray, tone: np.ndarray,
                 angle: np.ndarray) -> np.ndarray:
        st = self.st
        big, mid = self.noise("big")[rr, cc], self.noise("mid")[rr, cc]
        fine, white = self.noise("fine")[rr, cc], self.noise("white")[rr, cc]
        X, Y = self.xs[cc], self.ys[rr]
        n = len(rr)
        wet = 1.0 - 0.35 * st.wetness

        def rgb(c: tuple[float, float, float] | np.ndarray) -> np.ndarray:
            return np.broadcast_to(np.asarray(c, np.float32), (n, 3)).copy()

        def grid(period: float, width: float) -> tuple[np.ndarray, np.ndarray]:
            a = np.radians(angle)
            u = (X * np.cos(a) + Y * np.sin(a)) / period
            v = (-X * np.sin(a) + Y * np.cos(a)) / period
            aa = min(1.0, max(0.0, (period / self.gsd - 2.5) / 3))
            fu, fv = u - np.floor(u), v - np.floor(v)
            line = ((fu < width) | (fv < width)).astype(np.float32) * aa
            cell = hash2(np.floor(u).astype(np.int64), np.floor(v).astype(np.int64), 77)
            return line, cell

        k = (0.88 + 0.24 * mid)[:, None]
        if m == "field":
            veg = _season(_GRASS, min(1.0, st.season + 0.25))
            col = rgb(veg) * (0.8 + 0.4 * big)[:, None]
            col = col * 0.7 + rgb((140, 125, 95)) * 0.3 * (big > 0.55)[:, None] + col * 0.3 * (
                big <= 0.55)[:, None]
            col *= k
        elif m == "asphalt":
            col = rgb((84, 86, 90)) * (0.9 + 0.2 * mid + 0.1 * (white - 0.5))[:, None]
            patch = (big > 0.68)[:, None]
            col = np.where(patch, col * 0.86, col) * wet
        elif m == "sidewalk":
            line, cell = grid(0.5, 0.08)
            base = rgb((178, 168, 156)) * (0.92 + 0.12 * cell)[:, None]
            col = base * (1 - 0.22 * line)[:, None] * k * wet
        elif m == "kerb":
            col = rgb((205, 204, 198)) * k
        elif m == "paint":
            col = rgb((232, 232, 226)) * (0.85 + 0.15 * fine)[:, None]
            col = np.where((mid < 0.25)[:, None], col * 0.8, col)
        elif m == "paint_y":
            col = rgb((222, 184, 70)) * (0.85 + 0.15 * fine)[:, None]
        elif m == "alley":
            col = rgb((138, 132, 122)) * (0.8 + 0.3 * mid + 0.1 * white)[:, None]
            col = np.where((big > 0.7)[:, None], col * 0.82, col) * wet
        elif m in ("concrete", "scar", "paving"):
            period = {"concrete": 4.0, "scar": 1.0, "paving": 2.0}[m]
            line, cell = grid(period, 0.12 / period)
            tint = {"concrete": (176, 172, 164), "scar": (178, 168, 150),
                    "paving": (208, 205, 198)}[m]
            col = rgb(tint) * (0.9 + 0.1 * cell + 0.08 * mid)[:, None]
            col = col * (1 - 0.1 * line)[:, None]
            if m == "scar":
                col *= (0.75 + 0.5 * white * fine)[:, None]
            col = np.where((big > 0.75)[:, None] & (m != "paving"), col * 0.85, col) * wet
        elif m in ("grass", "turf"):
            if m == "grass":
                veg = _season(_GRASS, st.season)
                col = rgb(veg) * (0.68 + 0.3 * mid + 0.2 * fine + 0.22 * big
                                  + 0.08 * white)[:, None]
                col = np.where((big < 0.25)[:, None], col * 0.9 + rgb((140, 120, 90)) * 0.1,
                               col)
            else:
                a = np.radians(angle)
                stripe = np.floor((X * np.cos(a) + Y * np.sin(a)) / 5.0) % 2
                col = rgb((58, 128, 64)) * (0.92 + 0.1 * stripe + 0.05 * fine)[:, None]
        elif m == "path":
            line, cell = grid(0.4, 0.1)
            col = rgb((186, 172, 150)) * (0.92 + 0.1 * cell)[:, None] * (1 - 0.18 * line)[:, None]
            col *= k
        elif m in ("soil", "pit"):
            earth = (150, 118, 86) if m == "soil" else (112, 92, 72)
            col = rgb(earth) * (0.75 + 0.25 * mid + 0.2 * fine + 0.15 * big)[:, None]
            col *= (0.95 + 0.1 * white)[:, None] * (1 - 0.5 * st.wetness)
        elif m == "gravel":
            col = rgb((160, 154, 142)) * (0.7 + 0.5 * white * 0.6 + 0.2 * mid)[:, None]
        elif m == "water":
            col = rgb((58, 84, 76)) * (0.82 + 0.3 * big + 0.06 * mid)[:, None]
            sparkle = ((white > 0.9996) & (mid > 0.6))[:, None]
            col = np.where(sparkle, rgb((210, 215, 210)), col)
        elif m == "bank":
            line, cell = grid(0.6, 0.1)
            col = rgb((150, 146, 136)) * (0.85 + 0.2 * cell)[:, None] * (1 - 0.25 * line)[
                :, None]
        elif m == "track":
            col = rgb((176, 78, 62)) * (0.9 + 0.1 * fine + 0.05 * mid)[:, None]
        else:  # court
            col = rgb((64, 112, 150)) * (0.92 + 0.08 * mid)[:, None]
        return col * tone[:, None]

    # ------------------------------------------------------------------ items
    def items(self, img: np.ndarray) -> None:
        r = self.r
        x0, x1 = self.xs[0] - self.gsd, self.xs[-1] + self.gsd
        y0, y1 = self.ys[-1] - self.gsd, self.ys[0] + self.gsd
        for i in sorted(r.item_tree.query(box(x0, y0, x1, y1)).tolist()):
            self.draw(r.drawn[i], img)
        s = max(0.6, 0.1 / self.gsd)
        shade = cv2.GaussianBlur(self.shade, (0, 0), s)
        k = self.st.shadow_strength
        tint = np.array([1 - k, 1 - k * 0.93, 1 - k * 0.78], np.float32)
        img *= 1 - shade[..., None] * (1 - tint)

    def draw(self, d: _Drawn, img: np.ndarray) -> None:
        it = d.item
        # the item's own buffer, anchored on the global pixel grid (never clipped by the
        # window, so its rasterisation is the same in every window)
        mn = self.px(np.array([[d.bounds[0], d.bounds[3]], [d.bounds[2], d.bounds[1]]]))
        ga = int(mn[0, 0] // 8) - 1
        gb = int(mn[1, 0] // 8) + 2
        gr = int(mn[0, 1] // 8) - 1
        gs = int(mn[1, 1] // 8) + 2
        ca, cb, ra, rb = max(0, ga), min(self.W, gb), max(0, gr), min(self.H, gs)
        if ca >= cb or ra >= rb:
            return
        full_h, full_w = gs - gr, gb - ga
        sm = np.zeros((full_h, full_w), np.uint8)
        for piece in d.shadow:
            cv2.fillPoly(sm, [self.px(p, ga, gr) for p in piece], 1, lineType=cv2.LINE_8,
                         shift=3)
        fm_full = np.zeros((full_h, full_w), np.uint8)
        cv2.fillPoly(fm_full, [self.px(p, ga, gr) for p in d.rings], 1, lineType=cv2.LINE_8,
                     shift=3)
        win = (slice(ra - gr, rb - gr), slice(ca - ga, cb - ga))
        sm = sm[win]
        hm = self.hmap[ra:rb, ca:cb]
        sh = self.shade[ra:rb, ca:cb]
        cast = (sm > 0) & (hm < it.top - 0.25)
        # crowns let light through: their shadows are lighter than a wall's
        sh[cast] = np.maximum(sh[cast], 0.72 if it.kind in ("tree", "shrub") else 1.0)
        fm = np.ascontiguousarray(fm_full[win])
        if it.kind in ("tree", "shrub"):
            rr, cc = np.nonzero(fm)
            X, Y = self.xs[ca + cc], self.ys[ra + rr]
            rad = np.hypot(X - d.cx, Y - d.cy) / max(d.half_len, 0.3)
            edge = 0.72 + 0.3 * value_noise_pts(X, Y, 0.7, self.seed + 9)
            keep = rad < edge
            fm[rr[~keep], cc[~keep]] = 0
        rr, cc = np.nonzero(fm)
        if not len(rr):
            return
        col = self.paint(d, fm_full, win, rr, cc, ca, ra)
        view = img[ra:rb, ca:cb]
        view[rr, cc] = col
        hm[rr, cc] = it.top
        sh[rr, cc] = 0.0

    def paint(self, d: _Drawn, full: np.ndarray, win: tuple[slice, slice], rr: np.ndarray,
              cc: np.ndarray, ca: int, ra: int) -> np.ndarray:
        it, st, gsd = d.item, self.st, self.gsd
        X, Y = self.xs[ca + cc], self.ys[ra + rr]
        a = math.radians(it.angle)
        t = (X - d.cx) * math.cos(a) + (Y - d.cy) * math.sin(a)  # along the item's axis
        s = -(X - d.cx) * math.sin(a) + (Y - d.cy) * math.cos(a)  # across it
        base = np.asarray(it.color, np.float32)
        mid = self.noise("mid")[ra + rr, ca + cc]
        white = self.noise("white")[ra + rr, ca + cc]
        n = len(rr)
        sx, sy = self.r.sun
        # light from the sun side of a slope whose downhill direction is across (+s / -s)
        nx, ny = -math.sin(a), math.cos(a)
        facing = nx * sx + ny * sy

        def aa(period: float) -> float:
            return min(1.0, max(0.0, (period / gsd - 2.0) / 3.0))

        kind = it.kind
        if kind == "flat":
            fine = self.noise("fine")[ra + rr, ca + cc]
            big = self.noise("big")[ra + rr, ca + cc]
            grime = np.clip((big - 0.45) * 2.2, 0, 1) * (0.6 + 0.4 * mid)
            col = np.broadcast_to(base, (n, 3)) * (0.88 + 0.14 * mid + 0.1 * fine
                                                   + 0.08 * white - 0.22 * grime)[:, None]
            col = col * (1 - 0.25 * grime)[:, None] + np.array([92, 88, 80]) * (
                0.25 * grime)[:, None]
            rim_px = it.param / gsd
            if rim_px >= 0.6:
                k = max(1, int(round(rim_px)))
                inner_full = cv2.erode(full, np.ones((2 * k + 1, 2 * k + 1), np.uint8),
                                       borderType=cv2.BORDER_CONSTANT, borderValue=0)
                inner = inner_full[win]
                rim = inner[rr, cc] == 0
                light = 1.12 if hash2(np.array(int(d.cx * 10)), np.array(int(d.cy * 10)),
                                      3) > 0.35 else 0.82
                col[rim] *= light
                ph = 0.6 if it.param > 0.18 else 0.25
                dx = int(round(self.r.shift[0] * ph / gsd))
                dy = int(round(-self.r.shift[1] * ph / gsd))
                moved = _shifted(inner_full, dx, dy)[win]
                inside_shadow = (inner[rr, cc] > 0) & (moved[rr, cc] == 0)
                col[inside_shadow] *= 0.72
            return col
        if kind == "tile":
            side = np.sign(s)
            light = 1.0 + 0.22 * facing * side
            stripe = 0.5 + 0.5 * np.cos(2 * np.pi * t / 0.24)
            course = 0.5 + 0.5 * np.cos(2 * np.pi * s / 0.32)
            tex = 1 - aa(0.24) * 0.16 * stripe - aa(0.32) * 0.08 * course
            col = base[None, :] * (light * tex * (0.9 + 0.14 * mid))[:, None]
            ridge = np.abs(s) < max(0.14, 0.8 * gsd)
            col[ridge] = base * 0.78
            return col
        if kind == "steel":
            period = 0.22 if it.param < 0.8 else 0.3
            corr = np.cos(2 * np.pi * s / period)
            side = np.sign(s) if it.param >= 0.4 else np.ones(n)
            shine = 1.0 + 0.08 * facing * side
            col = base[None, :] * (shine * (1 - aa(period) * 0.14 * corr)
                                   * (0.93 + 0.1 * mid))[:, None]
            if base[0] > base[2] + 40:  # rusty: streaks along the corrugation
                streak = value_noise_pts(t * 0.15, s * 4.0, 1.0, self.seed + 11)
                col *= (0.8 + 0.3 * streak)[:, None]
            seam = (np.abs(s) < max(0.08, 0.6 * gsd)) & (it.param >= 0.4)
            col[seam] *= 0.85
            return col
        if kind == "board":
            face = (s > 0) if facing >= 0 else (s < 0)
            col = np.where(face[:, None], base[None, :] * 1.05, np.array([70, 72, 78]))
            return col.astype(np.float32) * (0.95 + 0.1 * white)[:, None]
        if kind == "tank":
            rad = np.hypot(X - d.cx, Y - d.cy) / max(d.half_len, 0.2)
            hi = ((X - d.cx) * sx + (Y - d.cy) * sy) / max(d.half_len, 0.2)
            col = base[None, :] * (0.85 + 0.25 * hi - 0.2 * (rad > 0.8))[:, None]
            return col
        if kind == "solar":
            tube = 0.5 + 0.5 * np.cos(2 * np.pi * t / 0.14)
            col = base[None, :] * (1 + aa(0.14) * 0.6 * tube)[:, None]
            extent = d.half_wid
            tank = s > extent - 0.3
            col[tank] = np.array([205, 208, 212]) * (0.85 + 0.2 * (s[tank] - extent + 0.3))[:,
                                                                                           None]
            return col
        if kind == "ac":
            fan = np.hypot(t - d.half_len * 0.4, s) < 0.18
            col = np.broadcast_to(base, (n, 3)).copy() * (0.95 + 0.1 * white)[:, None]
            col[fan] *= 0.55
            return col
        if kind in ("tree", "shrub"):
            leaf = _season(_LEAF, st.season * it.param)
            clump = value_noise_pts(X, Y, 0.45 if kind == "tree" else 0.25, self.seed + 21)
            lit = ((X - d.cx) * sx + (Y - d.cy) * sy) / max(d.half_len, 0.3)
            k = 0.7 + 0.35 * clump + 0.22 * lit - (0.15 if kind == "shrub" else 0.0)
            col = leaf[None, :] * k[:, None]
            return col * (0.93 + 0.1 * white)[:, None]
        if kind == "car":
            L = max(d.half_len, 0.5)
            col = np.broadcast_to(base, (n, 3)).copy()
            glass = ((t > 0.2 * L) & (t < 0.5 * L)) | ((t < -0.45 * L) & (t > -0.7 * L))
            col[glass] = np.array([40, 46, 52])
            col *= (1.0 + 0.1 * (np.abs(s) < 0.5))[:, None]
            return col
        if kind == "awning":
            stripe = (np.floor(t / 0.5) % 2)[:, None]
            return base[None, :] * (1 - stripe) + np.array([235, 235, 230]) * stripe
        if kind in ("pipes",):
            prof = np.abs(np.cos(np.pi * s / 0.45))
            return base[None, :] * (0.55 + 0.55 * prof)[:, None]
        if kind == "pile":
            lit = ((X - d.cx) * sx + (Y - d.cy) * sy) / max(d.half_len, 0.3)
            return base[None, :] * (0.85 + 0.25 * lit + 0.15 * (white - 0.5))[:, None]
        if kind == "tarp":
            return base[None, :] * (0.85 + 0.3 * mid)[:, None]
        if kind == "shelter":
            return base[None, :] * (0.9 + 0.15 * mid)[:, None]
        # rail, hoarding, pole, bike: plain
        return base[None, :] * (0.92 + 0.12 * white)[:, None]

    # ------------------------------------------------------------------ camera
    def camera(self, img: np.ndarray) -> np.ndarray:
        st = self.st
        expo = st.exposure * (1 + st.exposure_variation * 2 * (
            value_noise(self.xs, self.ys, 70.0, self.seed + 31) - 0.5))
        img *= expo[..., None]
        img *= np.asarray(st.white_balance, np.float32)
        lum = img.mean(axis=2, keepdims=True)
        img = lum + (img - lum) * st.saturation
        img = 128 + (img - 128) * st.contrast
        img = img * (1 - st.haze) + np.asarray(st.haze_color, np.float32) * st.haze
        if st.blur_px > 0.05:
            img = cv2.GaussianBlur(img, (0, 0), st.blur_px)
        white = self.noise("white")
        chroma = hash2(self.cols[None, :], self.rows[:, None], self.seed + 41)
        img += (st.noise_sigma * 3.4 * (white - 0.5))[..., None]
        img[..., 0] += st.noise_sigma * 1.5 * (chroma - 0.5)
        img[..., 2] -= st.noise_sigma * 1.5 * (chroma - 0.5)
        return img


def value_noise_pts(X: np.ndarray, Y: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """Value noise at scattered points (world metres), same lattice as :func:`value_noise`."""
    gx, gy = X / scale, Y / scale
    ix, iy = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
    fx, fy = gx - ix, gy - iy
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    a = hash2(ix, iy, seed) * (1 - fx) + hash2(ix + 1, iy, seed) * fx
    b = hash2(ix, iy + 1, seed) * (1 - fx) + hash2(ix + 1, iy + 1, seed) * fx
    return (a * (1 - fy) + b * fy).astype(np.float32)


def _shifted(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``mask`` moved by (dx, dy) pixels, zeros shifted in: out[r, c] = mask[r - dy, c - dx]."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    if abs(dx) >= w or abs(dy) >= h:
        return out
    src = mask[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    out[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
    return out


