"""The urban-village district as vectors: blocks, alleys, canal, parks, structures and changes.

An independent generator: a slightly rotated street grid cut into blocks, most of them dense
urban village (plots wall to wall along 2-4 m alleys), some apartment estates, a school, a
park, a construction site, an industrial yard, and a canal with green banks. Violations of every
setting are placed on top (extensions, overhangs, sheds, rooftop sheds, billboards, green
encroachment) and appear, persist or are removed over the survey epochs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import shapely
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring, unary_union
from shapely.prepared import prep

from geodata.synthetic.scene import (
    BillboardPermit,
    Jurisdiction,
    Parcel,
    Part,
    Permit,
    RoofStyle,
    Scene,
    Thing,
    WorldConfig,
)

Color = tuple[float, float, float]
T = TypeVar("T")

#: How many times denser than ``WorldConfig.violation_density`` a village district is.
DENSITY_FACTOR = 5.5
DISTRICT_NAMES = (("Liangxi", "Xinwu"), ("Binhu", "Liangxi"), ("Xinwu", "Huishan"))

STEEL = {
    "blue": (52, 98, 170),
    "white": (214, 218, 220),
    "grey": (150, 155, 158),
    "rust": (160, 92, 58),
}
FLAT_ROOFS: tuple[Color, ...] = (
    (168, 164, 156), (150, 147, 140), (186, 182, 172), (132, 130, 126), (118, 128, 116),
    (150, 124, 110), (196, 192, 186), (140, 144, 148), (160, 156, 150), (175, 170, 160),
)
TILE_ROOFS: tuple[Color, ...] = ((92, 94, 98), (110, 110, 112), (150, 78, 58), (128, 66, 50))
#: (setting, weight, class group) of the violations the district receives.
SETTINGS: tuple[tuple[str, float], ...] = (
    ("annex_same_roof", 6), ("annex_lower", 5), ("overhang_storey", 6), ("yard_shed", 6),
    ("steel_shed", 4), ("rooftop_shed", 6), ("site_hut", 2),
    ("green_shed", 5), ("green_annex", 3), ("green_building", 2), ("green_paving", 5),
    ("green_cleared", 4),
    ("pole_billboard", 4), ("roof_edge_billboard", 3), ("wall_billboard", 3),
)


@dataclass
class Patch:
    """A flat ground surface drawn in ``z`` order (roads, yards, grass, water, markings...)."""

    geometry: BaseGeometry
    material: str
    z: int
    tone: float = 1.0
    angle: float = 0.0  # texture direction, degrees from the world x axis
    epochs: frozenset[int] | None = None  # None: every epoch


@dataclass
class Item:
    """Something raised seen from above: roofs, sheds, boards, clutter, trees, cars."""

    geometry: Polygon
    kind: str
    color: Color
    top: float  # height of its top above ground, m
    base: float = 0.0
    angle: float = 0.0  # ridge / corrugation / long-axis direction, degrees from world x
    epochs: frozenset[int] | None = None
    param: float = 0.0  # kind-specific (parapet width, tone...)
    group: str = ""  # items of one group and epoch are drawn as one merged roof
    layer: int = 0  # 1: drawn over every structure (tree crowns)
    support: float | None = None  # height of what its shadow falls on (None: its base)


@dataclass
class VillageScene(Scene):
    """A :class:`Scene` plus what the village renderer draws."""

    patches: list[Patch] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    rotation_deg: float = 0.0


@dataclass
class _House:
    rect: tuple[float, float, float, float]  # a0, a1, b0, b1 of the permitted building (frame)
    front: int  # +1 / -1: the side (along b) facing the alley, yard or street
    gap: float  # free depth in front (yard, half alley, sidewalk)
    yard: tuple[float, float, float, float] | None
    street: bool
    height: float
    roof: str
    color: Color
    parcel_id: str
    thing: Thing
    green_side: int = 0  # -1/+1: the a-end touching a canal green strip
    green_gap: float = 0.0
    used: set[str] = field(default_factory=set)
    occupied: list[Polygon] = field(default_factory=list)  # on the roof


@dataclass
class _Area:
    """A region where free-standing things may go (yard, park, green strip, site)."""

    free: BaseGeometry
    parcel_id: str
    kind: str  # court | green | site
    occ: list[Polygon] = field(default_factory=list)


class _Village:
    def __init__(self, config: WorldConfig):
        self.cfg = config
        self.S = float(config.size_m)
        self.E = config.epochs
        self.all = frozenset(range(1, self.E + 1))
        self.rng = np.random.default_rng([config.seed, int(round(config.size_m * 100)), 61])
        self.theta = float(self.rng.choice([0.0, 1.0, 1.0, 1.0])) * float(
            self.rng.uniform(-18, 18))
        half = self.S / 2
        self.district = affinity.rotate(box(-half, -half, half, half), -self.theta,
                                        origin=(0, 0))
        self.inner = prep(self.district.buffer(-0.3))
        self.ext = self.S * 0.72
        self.parcels: list[Parcel] = []
        self.permits: list[Permit] = []
        self.boards: list[BillboardPermit] = []
        self.things: list[Thing] = []
        self.patches: list[Patch] = []
        self.items: list[Item] = []
        self.houses: list[_House] = []
        self.areas: list[_Area] = []
        self.sidewalks: list[tuple[LineString, float, float]] = []  # line, angle, free width
        self.n = {"P": 0, "B": 0, "S": 0, "AD": 0, "site": 0}
        self.site_rows: list[tuple[Polygon, str]] = []
        self.canal = (0.0, 0.0, 0.0, 0.0)
        self.dates = self._dates()

    # ---------------------------------------------------------------- ids and helpers
    def _id(self, k: str) -> str:
        self.n[k] += 1
        return f"{k}{self.n[k]:04d}"

    def _dates(self) -> list[dt.date]:
        d = dt.date(2026, 3, 1) + dt.timedelta(days=int(self.rng.integers(0, 50)))
        out = [d]
        for _ in range(1, self.E):
            d = d + dt.timedelta(days=int(self.rng.integers(30, 95)))
            out.append(d)
        return out

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi)) if hi > lo else lo

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.rng.integers(0, len(seq)))]

    def jitter(self, c: Color, s: float = 5.0) -> Color:
        j = self.rng.normal(0, s, 3)
        k = self.rng.normal(1, 0.06)
        return (float(np.clip(c[0] * k + j[0], 0, 255)), float(np.clip(c[1] * k + j[1], 0, 255)),
                float(np.clip(c[2] * k + j[2], 0, 255)))

    def within(self, g: BaseGeometry) -> bool:
        return bool(self.inner.contains(g))

    def parcel(self, geom: BaseGeometry, use: str) -> str | None:
        g = geom.intersection(self.district)
        if g.is_empty or g.area < 4.0:
            return None
        g = shapely.make_valid(g)
        if g.geom_type == "GeometryCollection":
            g = unary_union([p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")])
        pid = self._id("P")
        self.parcels.append(Parcel(pid, use, g))
        return pid

    def patch(self, geom: BaseGeometry, material: str, z: int, tone: float = 1.0,
              angle: float = 0.0, epochs: frozenset[int] | None = None) -> None:
        g = geom.intersection(self.district)
        if not g.is_empty and g.area > 0.01:
            self.patches.append(Patch(g, material, z, tone, angle, epochs))

    def item(self, geom: Polygon, kind: str, color: Color, top: float, base: float = 0.0,
             angle: float = 0.0, epochs: frozenset[int] | None = None, param: float = 0.0,
             group: str = "", layer: int = 0, support: float | None = None) -> None:
        self.items.append(Item(geom, kind, color, top, base, angle, epochs, param, group, layer,
                               support))

    def timing(self, new: bool) -> frozenset[int]:
        """Epochs of a violation: from epoch 1 (or a later one when new), maybe removed later."""
        if self.E == 1:
            return self.all
        a = int(self.rng.integers(2, self.E + 1)) if new else 1
        if a < self.E or not new:
            if self.chance(0.25):
                r = int(self.rng.integers(max(a + 1, 2), self.E + 1))
                return frozenset(range(a, r))
        return frozenset(range(a, self.E + 1))

    def thing(self, cls: str, parts: list[tuple[Polygon, frozenset[int]]], height: float,
              parcel_id: str | None, note: str, style: RoofStyle, base: float = 0.0,
              scar: str | None = None) -> Thing:
        self.n["site"] += 1
        t = Thing(f"V{self.cfg.seed}-{self.n['site']:05d}", cls,
                  [Part(g, e, style) for g, e in parts], height, parcel_id, note, base, scar)
        self.things.append(t)
        return t

    def permit(self, parcel_id: str | None, kind: str, geom: Polygon) -> None:
        self.permits.append(Permit(self._id("B" if kind == "building" else "S"),
                                   parcel_id or "", kind, geom))

    # ---------------------------------------------------------------- layout
    def build(self) -> None:
        a_roads = self._road_lines()
        b_roads = self._road_lines()
        # the canal: in the a-cell nearest the centre, widened to hold it
        k = int(np.argmin([abs((a_roads[i][0] + a_roads[i + 1][0]) / 2)
                           for i in range(len(a_roads) - 1)]))
        canal_w, bank, green_w = self.u(8, 13), 1.3, self.u(7, 13)
        total = canal_w + 2 * bank + 2 * green_w
        need = total + 2 * self.u(28, 40)
        have = a_roads[k + 1][0] - a_roads[k][0]
        if have < need:
            a_roads = a_roads[:k + 1] + [(c + need - have, w, s) for c, w, s in a_roads[k + 1:]]
        ac = (a_roads[k][0] + a_roads[k + 1][0]) / 2 + self.u(-8, 8)
        self.canal = (ac, canal_w, bank, green_w)
        self._roads(a_roads, b_roads)
        self._canal(ac, canal_w, bank, green_w)
        cells = []
        for i in range(len(a_roads) - 1):
            for j in range(len(b_roads) - 1):
                a0 = a_roads[i][0] + a_roads[i][1] / 2
                a1 = a_roads[i + 1][0] - a_roads[i + 1][1] / 2
                b0 = b_roads[j][0] + b_roads[j][1] / 2
                b1 = b_roads[j + 1][0] - b_roads[j + 1][1] / 2
                if i == k:
                    cells.append(((a0, ac - total / 2, b0, b1), (0, 1)))
                    cells.append(((ac + total / 2, a1, b0, b1), (-1, 0)))
                else:
                    cells.append(((a0, a1, b0, b1), (0, 0)))
        scored = []
        for rect, green in cells:
            area = box(rect[0], rect[2], rect[1], rect[3]).intersection(self.district).area
            if area > 250 and rect[1] - rect[0] > 14 and rect[3] - rect[2] > 14:
                scored.append((area, rect, green))
        scored.sort(key=lambda s: -s[0])
        forced = ["village", "village", "construction", "park", "school", "apartments",
                  "industrial", "village"]
        for n, (_, rect, green) in enumerate(scored):
            kind = forced[n] if n < len(forced) else str(self.rng.choice(
                ["village", "apartments", "industrial", "park"], p=[0.65, 0.15, 0.1, 0.1]))
            if kind == "village":
                self._village(rect, green)
            else:
                getattr(self, "_" + kind)(rect)
        self._violations()
        self._decor()

    def _road_lines(self) -> list[tuple[float, float, float]]:
        """Road centre lines across the frame: (position, total width, carriage width)."""
        out = []
        c = -self.ext + self.u(0, 40)
        while c < self.ext + 60:
            cw = float(self.pick([7.0, 8.0, 10.0, 12.0, 15.0]))
            side = self.u(2.2, 3.8)
            out.append((c, cw + 2 * side, cw))
            c += self.u(72, 118)
        return out

    def _roads(self, a_roads: list[tuple[float, float, float]],
               b_roads: list[tuple[float, float, float]]) -> None:
        E = self.ext + 80
        strips, carriages = [], []
        for c, w, cw in a_roads:
            strips.append(box(c - w / 2, -E, c + w / 2, E))
            carriages.append(box(c - cw / 2, -E, c + cw / 2, E))
        for c, w, cw in b_roads:
            strips.append(box(-E, c - w / 2, E, c + w / 2))
            carriages.append(box(-E, c - cw / 2, E, c + cw / 2))
        a_union = unary_union(strips[:len(a_roads)])
        for n, s in enumerate(strips):
            self.parcel(s if n < len(a_roads) else s.difference(a_union), "road")
        road = unary_union(strips)
        car = unary_union(carriages)
        self.road_union = road
        self.patch(road, "sidewalk", 20, angle=self.theta)
        self.patch(car, "asphalt", 21)
        self.patch(car.boundary.buffer(0.14).intersection(road), "kerb", 22)
        # markings, sidewalks (for trees, poles, bikes), zebra crossings
        for vertical, roads, others in ((True, a_roads, b_roads), (False, b_roads, a_roads)):
            cross = unary_union([box(-E, c - w / 2 - 1, E, c + w / 2 + 1) if vertical
                                 else box(c - w / 2 - 1, -E, c + w / 2 + 1, E)
                                 for c, w, _ in others])
            for c, w, cw in roads:
                def seg(p0: float, p1: float, q: float, c: float = c,
                        vertical: bool = vertical) -> LineString:
                    return (LineString([(c + q, p0), (c + q, p1)]) if vertical
                            else LineString([(p0, c + q), (p1, c + q)]))
                centre = seg(-E, E, 0)
                lanes = []
                if cw >= 12:
                    lanes += [centre.offset_curve(0.15).buffer(0.08, cap_style="flat"),
                              centre.offset_curve(-0.15).buffer(0.08, cap_style="flat")]
                    for q in (-cw / 4, cw / 4):
                        lanes.append(self._dashes(seg(-E, E, q), 3.0, 6.0, 0.08))
                    self.patch(unary_union(lanes[:2]).difference(cross), "paint_y", 30)
                    lanes = lanes[2:]
                else:
                    lanes.append(self._dashes(centre, 2.0, 4.0, 0.08))
                self.patch(unary_union(lanes).difference(cross), "paint", 30)
                side = (w - cw) / 2
                for sgn in (-1, 1):
                    q = sgn * (cw / 2 + side / 2)
                    line = seg(-E, E, q)
                    for piece in getattr(line.difference(cross.buffer(2)), "geoms",
                                         [line.difference(cross.buffer(2))]):
                        if piece.length > 5:
                            self.sidewalks.append((piece, 90.0 if vertical else 0.0, side))
                # zebras before each crossing road
                for oc, ow, _ in others:
                    for sgn in (-1, 1):
                        p = oc + sgn * (ow / 2 + 3.2)
                        stripes = []
                        q = -cw / 2 + 0.5
                        while q < cw / 2 - 0.5:
                            if vertical:
                                stripes.append(box(c + q, p - 2, c + q + 0.45, p + 2))
                            else:
                                stripes.append(box(p - 2, c + q, p + 2, c + q + 0.45))
                            q += 1.0
                        self.patch(unary_union(stripes), "paint", 31)
                        stop = p + sgn * 2.6
                        sl = (box(c, stop - 0.2, c + cw / 2, stop + 0.2) if vertical
                              else box(stop - 0.2, c - cw / 2, stop + 0.2, c))
                        self.patch(sl, "paint", 31)
        self.carriage = car

    def _dashes(self, line: LineString, on: float, period: float, half: float) -> BaseGeometry:
        n = int(line.length // period)
        segs = [substring(line, k * period, k * period + on) for k in range(n)]
        return unary_union([s.buffer(half, cap_style="flat") for s in segs])

    def _canal(self, ac: float, w: float, bank: float, green_w: float) -> None:
        E = self.ext + 80
        half = w / 2
        water = box(ac - half - bank, -E, ac + half + bank, E).difference(self.road_union)
        self.parcel(water, "water")
        self.patch(box(ac - half - bank, -E, ac + half + bank, E), "bank", 10, angle=self.theta)
        self.patch(box(ac - half, -E, ac + half, E), "water", 11)
        for sgn in (-1, 1):
            a0 = ac + sgn * (half + bank)
            a1 = a0 + sgn * green_w
            strip = box(min(a0, a1), -E, max(a0, a1), E).difference(self.road_union)
            pid = self.parcel(strip, "green")
            self.patch(strip, "grass", 10)
            # a path along the strip
            pa = (a0 + a1) / 2 + sgn * self.u(-1, 1)
            path = box(pa - 0.9, -E, pa + 0.9, E).difference(self.road_union)
            self.patch(path, "path", 12, angle=self.theta)
            for g in getattr(strip, "geoms", [strip]):
                free = g.buffer(-0.6).difference(path.buffer(0.3)).intersection(
                    self.district.buffer(-1))
                if pid and free.area > 20:
                    self.areas.append(_Area(free, pid, "green"))
            # trees along the bank
            b = -E
            while b < E:
                b += self.u(6, 11)
                p = Point(a0 + sgn * self.u(1.2, 2.5), b)
                if not self.road_union.buffer(2).contains(p):
                    self._tree(p, self.u(2.0, 3.6))
        # bridge railings
        for g in getattr(self.road_union.intersection(water), "geoms", []):
            minx, miny, maxx, maxy = g.bounds
            for y in (miny + 0.3, maxy - 0.3):
                self.item(box(minx, y - 0.12, maxx, y + 0.12), "rail", (200, 200, 195), 1.1)

    # ---------------------------------------------------------------- blocks
    def _village(self, rect: tuple[float, float, float, float], green: tuple[int, int]) -> None:
        a0, a1, b0, b1 = rect
        self.patch(box(a0, b0, a1, b1), "alley", 15, tone=self.u(0.9, 1.1))
        rows: list[tuple[float, float, int, float, bool]] = []  # b0, b1, front, gap, street
        b, first, last_alley = b0, True, 3.0
        while b1 - b > 7:
            rest = b1 - b
            alley = self.u(2.0, 4.0)
            if rest <= 28:
                if rest > 15:
                    mid = b + rest * self.u(0.42, 0.58)
                    rows += [(b, mid, -1, 1.5 if first else alley / 2, first),
                             (mid, b1, 1, 2.0, True)]
                else:
                    rows.append((b, b1, -1 if first else 1, 2.0, True))
                break
            d1, d2 = self.u(8, 13), self.u(8, 13)
            rows += [(b, b + d1, -1, 1.8 if first else last_alley / 2, first),
                     (b + d1, b + d1 + d2, 1, alley / 2, False)]
            b += d1 + d2 + alley
            last_alley = alley
            first = False
        cuts = [a0]
        a = a0
        while a1 - a > 30:
            a += self.u(22, 45)
            if a1 - a < 12:
                break
            w = self.u(2.0, 3.4)
            cuts += [a, a + w]
            a += w
        cuts.append(a1)
        for rb0, rb1, front, gap, street in rows:
            for s in range(0, len(cuts), 2):
                sa0, sa1 = cuts[s], cuts[s + 1]
                x = sa0
                while sa1 - x > 4:
                    w = self.u(5.5, 10.5)
                    if sa1 - (x + w) < 5.5:
                        w = sa1 - x
                    self._plot((x, x + w, rb0, rb1), front, gap, street,
                               green_side=(-1 if (x == a0 and green[0]) else
                                           1 if (x + w >= a1 - 1e-6 and green[1]) else 0))
                    x += w

    def _plot(self, rect: tuple[float, float, float, float], front: int, gap: float,
              street: bool, green_side: int) -> None:
        pa0, pa1, pb0, pb1 = rect
        plot = box(pa0, pb0, pa1, pb1)
        if not self.within(plot):
            return
        pid = self.parcel(plot, "residential")
        if self.chance(0.03):
            self.patch(plot, "soil", 16)
            return
        yard = None
        depth = pb1 - pb0
        if self.chance(0.32) and depth > 9.5:
            yd = self.u(2.6, min(4.8, depth - 6.5))
            if front < 0:
                yard = (pa0, pa1, pb0, pb0 + yd)
                core = (pa0, pa1, pb0 + yd, pb1)
            else:
                yard = (pa0, pa1, pb1 - yd, pb1)
                core = (pa0, pa1, pb0, pb1 - yd)
            self.patch(box(yard[0], yard[2], yard[1], yard[3]), "concrete", 17,
                       tone=self.u(0.85, 1.1), angle=self.theta)
            gap = yd
        else:
            core = rect
        storeys = int(self.pick([2, 3, 3, 4, 4, 4, 5, 5, 6]))
        roof = str(self.rng.choice(["flat", "tile", "steel"], p=[0.68, 0.27, 0.05]))
        color = self.jitter(self.pick(FLAT_ROOFS if roof == "flat" else TILE_ROOFS
                                      if roof == "tile" else list(STEEL.values())))
        height = storeys * 3.0 + (0.9 if roof == "flat" else 1.6)
        geom = box(core[0], core[2], core[1], core[3])
        w, d = core[1] - core[0], core[3] - core[2]
        angle = 0.0 if w >= d else 90.0
        t = self.thing("building", [(geom, self.all)], height, pid, "village_house",
                       RoofStyle(roof, tuple(int(c) for c in color), angle + self.theta, 0))
        self.permit(pid, "building", geom)
        h = _House(core, front, gap, yard, street, height, roof, color, pid or "", t,
                   green_side, self.canal[3] if green_side else 0.0)
        self.houses.append(h)
        self.item(geom, roof, color, height, angle=angle, param=self.u(0.2, 0.4),
                  group=t.site_id)

    def _apartments(self, rect: tuple[float, float, float, float]) -> None:
        a0, a1, b0, b1 = rect
        cell = box(a0, b0, a1, b1)
        pid = self.parcel(cell, "residential")
        self.patch(cell, "concrete", 15, angle=self.theta)
        b = b0 + self.u(6, 10)
        taken = []
        while b1 - b > 20:
            depth = self.u(11, 14)
            storeys = int(self.rng.integers(6, 12))
            h = storeys * 2.9 + 1.0
            x = a0 + self.u(5, 9)
            while a1 - x > 25:
                length = min(self.u(30, 58), a1 - x - 5)
                slab = box(x, b, x + length, b + depth)
                if self.within(slab):
                    color = self.jitter(self.pick(FLAT_ROOFS), 6)
                    t = self.thing("building", [(slab, self.all)], h, pid, "apartment_slab",
                                   RoofStyle("flat", tuple(int(c) for c in color),
                                             self.theta, 4))
                    self.permit(pid, "building", slab)
                    self.item(slab, "flat", color, h, param=0.35, group=t.site_id)
                    for k in range(int(length // 16)):
                        sx = x + 4 + k * 16 + self.u(0, 4)
                        self.item(box(sx, b + depth / 2 - 1.6, sx + 3.2, b + depth / 2 + 1.6),
                                  "flat", self.jitter(color, 4), h + 2.6, base=h, param=0.15)
                    self._clutter(slab.buffer(-1.2), h, [], n=int(length // 6))
                    taken.append(slab)
                x += length + self.u(8, 14)
            lawn_b = b + depth + 3
            b += depth + max(14.0, 0.8 * h)
            lawn = box(a0 + 4, lawn_b, a1 - 4, b - 5)
            if lawn.area > 40:
                self.patch(lawn, "grass", 16)
                for _ in range(int(lawn.area // 90)):
                    p = Point(self.u(lawn.bounds[0], lawn.bounds[2]),
                              self.u(lawn.bounds[1], lawn.bounds[3]))
                    self._tree(p, self.u(1.8, 3.2))
            # parking along the internal road in front of the slabs
            pk = box(a0 + 3, b - 5, a1 - 3, b - 2.5)
            self.patch(pk, "asphalt", 16, tone=1.1)
            x = a0 + 4
            while x < a1 - 6:
                if self.chance(0.6):
                    self._car(Point(x + 1.2, b - 3.75), 90.0)
                x += 2.6
        if pid:
            free = cell.buffer(-2).difference(unary_union(taken).buffer(2.5)) if taken else cell
            self.areas.append(_Area(free, pid, "court"))

    def _school(self, rect: tuple[float, float, float, float]) -> None:
        a0, a1, b0, b1 = rect
        cell = box(a0, b0, a1, b1)
        pid = self.parcel(cell, "public")
        self.patch(cell, "concrete", 15, tone=1.08, angle=self.theta)
        w = a1 - a0
        # an L-shaped teaching block (two permitted parts) along the a0 side
        bw = min(16.0, w * 0.3)
        p1 = box(a0 + 4, b0 + 4, a0 + 4 + bw, b1 - 4)
        p2 = box(a0 + 4 + bw, b1 - 4 - 13, min(a1 - 4, a0 + 4 + bw + w * 0.35), b1 - 4)
        h = 4 * 3.6 + 1
        color = self.jitter((190, 186, 178), 5)
        parts = [g for g in (p1, p2) if self.within(g)]
        if parts:
            t = self.thing("building", [(g, self.all) for g in parts], h, pid, "school",
                           RoofStyle("flat", tuple(int(c) for c in color), self.theta, 2))
            self.permit(pid, "building", unary_union(parts))
            for g in parts:
                self.item(g, "flat", color, h, param=0.3, group=t.site_id)
                self._clutter(g.buffer(-1.5), h, [], n=3)
            self.houses.append(_House((p1.bounds[0], p1.bounds[2], p1.bounds[1], p1.bounds[3]),
                                      -1, 3.0, None, False, h, "flat", color, pid or "", t))
        # running track with a turf field
        ta0, ta1 = a0 + 4 + bw + 6, a1 - 5
        tb0, tb1 = b0 + 5, b1 - 4 - 13 - 5
        if ta1 - ta0 > 30 and tb1 - tb0 > 20:
            r = (tb1 - tb0) / 2
            mid_b = (tb0 + tb1) / 2
            track = unary_union([box(ta0 + r, tb0, ta1 - r, tb1),
                                 Point(ta0 + r, mid_b).buffer(r, 32),
                                 Point(ta1 - r, mid_b).buffer(r, 32)])
            self.patch(track, "track", 16)
            inner = track.buffer(-5.5)
            self.patch(inner, "turf", 17)
            for k in range(1, 5):
                ring = track.buffer(-1.1 * k).boundary.buffer(0.05)
                self.patch(ring, "paint", 18)
            self.patch(inner.boundary.buffer(0.06), "paint", 18)
            free = cell.buffer(-2).difference(track.buffer(2)).difference(
                unary_union(parts).buffer(2) if parts else Polygon())
        else:
            court = box(ta0, tb0, min(ta1, ta0 + 28), min(tb1, tb0 + 15))
            self.patch(court, "court", 16)
            self.patch(court.buffer(-1).boundary.buffer(0.05), "paint", 18)
            free = cell.buffer(-2).difference(court.buffer(2))
        if pid:
            self.areas.append(_Area(free, pid, "court"))

    def _park(self, rect: tuple[float, float, float, float]) -> None:
        a0, a1, b0, b1 = rect
        cell = box(a0, b0, a1, b1)
        pid = self.parcel(cell, "green")
        self.patch(cell, "grass", 15)
        paths = []
        for _ in range(2):
            pts = [(a0, self.u(b0, b1)), (self.u(a0, a1), self.u(b0, b1)),
                   (self.u(a0, a1), self.u(b0, b1)), (a1, self.u(b0, b1))]
            if self.chance(0.5):
                pts = [(y, x) for x, y in pts]
                pts = [(self.u(a0, a1), b0), pts[1], pts[2], (self.u(a0, a1), b1)]
            line = LineString(pts).simplify(0)
            paths.append(line.buffer(self.u(1.0, 1.8)))
        path = unary_union(paths).intersection(cell)
        self.patch(path, "path", 17, angle=self.theta)
        pond = None
        if (a1 - a0) > 50 and (b1 - b0) > 50 and self.chance(0.6):
            c = Point(self.u(a0 + 20, a1 - 20), self.u(b0 + 20, b1 - 20))
            pond = affinity.scale(c.buffer(self.u(7, 12), 24), self.u(0.7, 1.4), 1.0)
            pond = pond.difference(path.buffer(1))
            self.patch(pond, "water", 16)
            self.patch(pond.buffer(0.8).difference(pond), "bank", 16)
        shrub_pool = cell.buffer(-1)
        for _ in range(int(cell.area // 260)):
            p = Point(self.u(a0, a1), self.u(b0, b1))
            if not path.buffer(1.5).contains(p) and not (pond and pond.buffer(2).contains(p)):
                if self.chance(0.7):
                    self._tree(p, self.u(1.8, 4.0))
                elif shrub_pool.contains(p):
                    r = self.u(0.8, 1.8)
                    self.item(p.buffer(r, 12), "shrub", (0, 0, 0), self.u(0.8, 1.6),
                              param=self.u(0.8, 1.2))
        if pid:
            free = cell.buffer(-1).difference(path.buffer(0.4))
            if pond:
                free = free.difference(pond.buffer(1.5))
            self.areas.append(_Area(free, pid, "green"))

    def _construction(self, rect: tuple[float, float, float, float]) -> None:
        a0, a1, b0, b1 = rect
        cell = box(a0, b0, a1, b1)
        pid = self.parcel(cell, "commercial")
        self.patch(cell, "soil", 15, tone=self.u(0.9, 1.1))
        # hoarding along the border (a thin strip, not a billboard)
        ring = cell.boundary.buffer(0.15).intersection(cell)
        self.item(ring, "hoarding", (70, 120, 190), 2.4)
        pit = box(a0 + (a1 - a0) * 0.35, b0 + (b1 - b0) * 0.3, a1 - 8, b1 - 8)
        self.patch(pit, "pit", 16)
        self.patch(pit.buffer(1.2).difference(pit), "gravel", 16)
        free = cell.buffer(-2).difference(pit.buffer(2))
        area = _Area(free, pid or "", "site")
        # site huts: rows of blue-roofed cabins, some permitted (shed permits)
        for k in range(4):
            n = int(self.rng.integers(3, 7))
            hb = b0 + 3 + (k // 2) * 8.5
            x = a0 + 3 if k % 2 == 0 else a1 - 3 - n * 3.0
            row = box(x, hb, x + n * 3.0, hb + 6.0)
            if free.contains(row) and self.within(row) and not any(
                    o.intersects(row) for o in area.occ):
                area.occ.append(row.buffer(1.0))
                self.site_rows.append((row, pid or ""))
        for _ in range(int(cell.area // 500) + 2):
            p = self._free_rect(area, self.u(3, 7), self.u(1.5, 3), any_angle=True)
            if p is None:
                continue
            kind = self.pick(["pipes", "pile", "pile", "tarp", "pipes"])
            top = {"pipes": self.u(0.6, 1.4), "pile": self.u(1, 2.5), "tarp": 0.3}[kind]
            col = {"pipes": self.pick([(90, 90, 92), (150, 150, 150), (40, 110, 170)]),
                   "pile": self.pick([(190, 170, 130), (130, 125, 118), (110, 90, 70)]),
                   "tarp": (40, 100, 190)}[kind]
            shape = p if kind != "pile" else p.centroid.buffer(
                math.sqrt(p.area / math.pi), 16)
            self.item(shape, kind, self.jitter(col, 6), top, angle=self._long_angle(p))
        if pid:
            self.areas.append(area)

    def _industrial(self, rect: tuple[float, float, float, float]) -> None:
        a0, a1, b0, b1 = rect
        cell = box(a0, b0, a1, b1)
        pid = self.parcel(cell, "industrial")
        self.patch(cell, "concrete", 15, tone=0.92, angle=self.theta)
        taken = []
        b = b0 + 6
        while b1 - b > 22:
            depth = min(self.u(18, 32), b1 - b - 8)
            wh = box(a0 + 6, b, a0 + 6 + min(self.u(35, 70), a1 - a0 - 20), b + depth)
            if self.within(wh) and depth > 10:
                color = self.jitter(self.pick([STEEL["blue"], STEEL["grey"], STEEL["white"]]))
                h = self.u(7, 11)
                t = self.thing("building", [(wh, self.all)], h, pid, "warehouse",
                               RoofStyle("corrugated", tuple(int(c) for c in color), 90, 0))
                self.permit(pid, "building", wh)
                self.item(wh, "steel", color, h, angle=90.0, param=1.0, group=t.site_id)
                taken.append(wh)
                self.houses.append(_House((wh.bounds[0], wh.bounds[2], wh.bounds[1],
                                           wh.bounds[3]), 1, 4.0, None, False, h, "steel",
                                          color, pid or "", t))
            b += depth + self.u(10, 16)
        free = cell.buffer(-2).difference(unary_union(taken).buffer(3)) if taken else cell
        area = _Area(free, pid or "", "court")
        for _ in range(int(free.area // 400)):
            p = self._free_rect(area, self.u(8, 12), 2.5)
            if p is not None:
                self.item(p, "car", self.jitter(self.pick([(220, 220, 220), (60, 90, 150),
                                                           (200, 60, 40)])),
                          3.2, angle=self._long_angle(p), param=1.0)
        if pid:
            self.areas.append(area)

    # ---------------------------------------------------------------- placement helpers
    def _long_angle(self, p: Polygon) -> float:
        c = np.asarray(p.minimum_rotated_rectangle.exterior.coords)
        e1, e2 = c[1] - c[0], c[2] - c[1]
        e = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
        return float(np.degrees(np.arctan2(e[1], e[0])))

    def _free_rect(self, area: _Area, w: float, d: float, any_angle: bool = False,
                   shape: str = "rect") -> Polygon | None:
        minx, miny, maxx, maxy = area.free.bounds
        if maxx - minx < w or maxy - miny < d:
            return None
        for _ in range(25):
            cx, cy = self.u(minx, maxx), self.u(miny, maxy)
            g = self._shape(cx, cy, w, d, shape)
            if any_angle:
                g = affinity.rotate(g, self.u(0, 180), origin=(cx, cy))
            elif self.chance(0.5):
                g = affinity.rotate(g, 90, origin=(cx, cy))
            if area.free.contains(g) and self.within(g) and not any(
                    o.intersects(g) for o in area.occ):
                area.occ.append(g.buffer(0.8))
                return g
        return None

    def _shape(self, cx: float, cy: float, w: float, d: float, shape: str) -> Polygon:
        if shape == "trapezoid":
            s = self.u(0.15, 0.35) * w
            return Polygon([(cx - w / 2, cy - d / 2), (cx + w / 2, cy - d / 2),
                            (cx + w / 2 - s, cy + d / 2), (cx - w / 2, cy + d / 2)])
        return box(cx - w / 2, cy - d / 2, cx + w / 2, cy + d / 2)

    def _tree(self, p: Point, r: float) -> None:
        if not self.inner.contains(p):
            return
        h = self.u(5, 12)
        crown = p.buffer(r, 16)
        self.item(crown, "tree", (0, 0, 0), h, angle=self.u(0, 360), param=self.u(0.8, 1.2),
                  layer=1)

    def _car(self, p: Point, angle: float, big: bool = False) -> None:
        L, W = (self.u(6, 9), 2.4) if big else (self.u(4.2, 4.9), self.u(1.7, 1.9))
        g = affinity.rotate(box(p.x - L / 2, p.y - W / 2, p.x + L / 2, p.y + W / 2), angle,
                            origin=p)
        if not self.within(g):
            return
        col = self.pick([(225, 225, 225), (235, 235, 232), (30, 30, 32), (120, 122, 126),
                         (170, 172, 176), (150, 30, 30), (40, 70, 130), (200, 160, 90)])
        self.item(g, "car", self.jitter(col, 5), 1.5, angle=angle)

    def _clutter(self, roof: BaseGeometry, h: float, avoid: list[Polygon], n: int) -> None:
        """Water tanks, solar heaters, AC units and stair houses: part of the roof."""
        if roof.is_empty or roof.area < 6:
            return
        minx, miny, maxx, maxy = roof.bounds
        placed = list(avoid)
        for _ in range(n):
            kind = str(self.rng.choice(["tank", "solar", "ac", "ac", "stair", "tarp"],
                                       p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05]))
            size = {"tank": (1.2, 1.2), "solar": (2.0, 1.1), "ac": (0.9, 0.5),
                    "stair": (3.2, 2.6), "tarp": (2.5, 1.8)}[kind]
            for _ in range(6):
                cx, cy = self.u(minx, maxx), self.u(miny, maxy)
                w, d = size
                if kind == "tank":
                    w = d = self.u(0.9, 1.5)
                    g = Point(cx, cy).buffer(w / 2, 14)
                    ang = 0.0
                else:
                    ang = float(self.pick([0.0, 90.0]))
                    g = affinity.rotate(box(cx - w / 2, cy - d / 2, cx + w / 2, cy + d / 2),
                                        ang, origin=(cx, cy))
                if roof.contains(g) and not any(o.intersects(g) for o in placed):
                    placed.append(g.buffer(0.3))
                    if kind == "tank":
                        col = self.pick([(230, 230, 228), (190, 196, 200), (60, 110, 170),
                                         (40, 40, 42)])
                        self.item(g, "tank", col, h + self.u(1.0, 1.8), base=h)
                    elif kind == "solar":
                        self.item(g, "solar", (40, 48, 60), h + 1.2, base=h, angle=ang)
                    elif kind == "ac":
                        self.item(g, "ac", (200, 202, 200), h + 0.6, base=h, angle=ang)
                    elif kind == "stair":
                        self.item(g, "flat", self.jitter((170, 166, 158), 8), h + 2.6, base=h,
                                  param=0.12)
                    else:
                        self.item(g, "tarp", self.pick([(40, 100, 190), (200, 200, 205)]),
                                  h + 0.3, base=h, angle=ang)
                    break

    # ---------------------------------------------------------------- violations
    def _violations(self) -> None:
        ha = (self.S ** 2) / 1e4
        n1 = max(len(SETTINGS), int(round(self.cfg.violation_density * ha * DENSITY_FACTOR)))
        wsum = sum(w for _, w in SETTINGS)
        plan: list[tuple[str, bool]] = []
        for name, w in SETTINGS:
            q = max(1, int(round(n1 * w / wsum)))
            plan += [(name, False)] * q
            if self.E > 1:
                plan += [(name, True)] * max(1, int(round(0.35 * q)))
        # legal look-alikes: permitted sheds and licensed boards
        for name in ("yard_shed", "steel_shed", "rooftop_shed", "site_hut", "pole_billboard",
                     "roof_edge_billboard", "wall_billboard"):
            plan += [(name + ":legal", False)] * max(1, int(round(n1 * 0.05)))
        order = self.rng.permutation(len(plan))
        placers: dict[str, Callable[[frozenset[int], bool], bool]] = {
            "annex_same_roof": self._annex_same, "annex_lower": self._annex_lower,
            "overhang_storey": self._overhang, "yard_shed": self._yard_shed,
            "steel_shed": self._steel_shed, "rooftop_shed": self._rooftop_shed,
            "site_hut": self._site_hut, "green_shed": self._green_shed,
            "green_annex": self._green_annex, "green_building": self._green_building,
            "green_paving": self._green_paving, "green_cleared": self._green_cleared,
            "pole_billboard": self._pole_board, "roof_edge_billboard": self._roof_board,
            "wall_billboard": self._wall_board,
        }
        for i in order:
            name, new = plan[int(i)]
            legal = name.endswith(":legal")
            key = name.split(":")[0]
            epochs = self.all if legal else self.timing(new)
            for _ in range(6):
                if placers[key](epochs, legal):
                    break
        # clutter on every flat roof after the rooftop things are placed
        for h in self.houses:
            if h.roof == "flat" and h.thing.note == "village_house":
                g = box(h.rect[0], h.rect[2], h.rect[1], h.rect[3]).buffer(-0.6)
                self._clutter(g, h.height, h.occupied, n=int(self.rng.integers(0, 6)))
            elif h.roof == "flat" and self.chance(0.3):
                pass

    def _houses(self, need: str, pred: Callable[[_House], bool]) -> _House | None:
        pool = [h for h in self.houses if need not in h.used and pred(h)]
        if not pool:
            return None
        h = pool[int(self.rng.integers(0, len(pool)))]
        h.used.add(need)
        return h

    def _ext_rect(self, h: _House, depth: float, full: bool = False,
                  ) -> tuple[Polygon, float, float] | None:
        a0, a1, b0, b1 = h.rect
        w = a1 - a0
        ew = w if full else self.u(0.45, 1.0) * w
        s = self.u(a0, a1 - ew)
        if h.front < 0:
            g = box(s, b0 - depth, s + ew, b0)
        else:
            g = box(s, b1, s + ew, b1 + depth)
        return g, s, ew

    def _extend(self, h: _House, ext: Polygon, epochs: frozenset[int], note: str) -> None:
        h.thing.parts.append(Part(ext, epochs, h.thing.parts[0].style))
        h.thing.note = note
        if not epochs >= self.all:
            self._scar_after(ext, epochs, "concrete")

    def _scar_after(self, g: Polygon, epochs: frozenset[int], material: str) -> None:
        later = frozenset(e for e in self.all if e > max(epochs))
        if later:
            self.patch(g, "scar" if material == "concrete" else material, 19,
                       tone=self.u(0.9, 1.1), epochs=later)

    def _annex_same(self, epochs: frozenset[int], legal: bool) -> bool:
        h = self._houses("ext", lambda h: h.yard is not None and h.roof in ("flat", "tile")
                         and h.thing.note == "village_house")
        if h is None:
            return False
        r = self._ext_rect(h, h.gap - self.u(0, 0.6))
        assert r is not None
        ext = r[0]
        h.used.add("yard")
        self._extend(h, ext, epochs, "annex_same_roof")
        self.item(ext, h.roof, h.color, h.height, angle=0.0 if h.roof == "flat" else
                  self._house_angle(h), epochs=epochs, param=0.3, group=h.thing.site_id)
        return True

    def _house_angle(self, h: _House) -> float:
        return 0.0 if h.rect[1] - h.rect[0] >= h.rect[3] - h.rect[2] else 90.0

    def _annex_lower(self, epochs: frozenset[int], legal: bool) -> bool:
        h = self._houses("ext", lambda h: h.yard is not None or h.thing.note in ("school",
                                                                                "warehouse"))
        if h is None:
            return False
        depth = h.gap - self.u(0.1, 0.6) if h.yard else self.u(3, 6)
        r = self._ext_rect(h, depth)
        assert r is not None
        ext = r[0]
        if not self.within(ext):
            return False
        h.used.add("yard")
        self._extend(h, ext, epochs, "annex_lower")
        roof = str(self.pick(["steel", "tile", "flat"]))
        col = self.jitter(self.pick(list(STEEL.values())) if roof == "steel" else
                          self.pick(TILE_ROOFS) if roof == "tile" else self.pick(FLAT_ROOFS))
        low = self.u(2.8, 4.2)
        self.item(ext, roof, col, low, angle=90.0 if h.rect[1] - h.rect[0] > depth else 0.0,
                  epochs=epochs, param=0.2)
        return True

    def _overhang(self, epochs: frozenset[int], legal: bool) -> bool:
        h = self._houses("ext", lambda h: h.thing.note == "village_house" and h.gap >= 0.9
                         and h.roof in ("flat", "tile"))
        if h is None:
            return False
        depth = min(self.u(0.5, 3.0), h.gap * 0.9)
        a0, a1, b0, b1 = h.rect
        ext = box(a0, b0 - depth, a1, b0) if h.front < 0 else box(a0, b1, a1, b1 + depth)
        if ext.area < 3 or not self.within(ext):
            return False
        h.used.add("yard")
        self._extend(h, ext, epochs, "overhang_storey")
        self.item(ext, h.roof, h.color, h.height, angle=self._house_angle(h), epochs=epochs,
                  param=0.3, group=h.thing.site_id)
        # an overhang is upper storeys: the shadow under it on the alley
        return True

    def _steel(self, g: Polygon, epochs: frozenset[int], note: str, pid: str,
               base: float = 0.0, legal: bool = False, color: Color | None = None,
               angle: float | None = None) -> Thing:
        col = color or self.jitter(self.pick(list(STEEL.values())), 8)
        h = self.u(2.4, 3.4)
        ang = self._long_angle(g) + 90 if angle is None else angle
        parts = [(g, epochs)]
        t = self.thing("shed", parts, h, pid, note,
                       RoofStyle("corrugated", tuple(int(c) for c in col), ang + self.theta),
                       base=base, scar="concrete")
        if legal:
            self.permit(pid, "shed", t.footprint(min(epochs)) or g)
        for p, _ in parts:
            self.item(p, "steel", col, base + h, base=base, angle=ang, epochs=epochs,
                      group=t.site_id, param=0.0)
        if not epochs >= self.all:
            self._scar_after(g, epochs, "concrete")
        return t

    def _irregular(self, w: float, d: float) -> Polygon:
        kind = self.pick(["rect", "rect", "trap", "L"])
        if kind == "trap":
            s = self.u(0.2, 0.4) * w
            return Polygon([(0, 0), (w, 0), (w - s, d), (0, d)])
        if kind == "L":
            cw, cd = self.u(0.4, 0.6) * w, self.u(0.4, 0.6) * d
            return Polygon([(0, 0), (w, 0), (w, cd), (cw, cd), (cw, d), (0, d)])
        return box(0, 0, w, d)

    def _yard_shed(self, epochs: frozenset[int], legal: bool) -> bool:
        h = self._houses("yard", lambda h: h.yard is not None and "ext" not in h.used)
        if h is None or h.yard is None:
            return False
        ya0, ya1, yb0, yb1 = h.yard
        d = yb1 - yb0 - 0.4
        w = min(self.u(2.5, 6.0), ya1 - ya0 - 0.6)
        g = self._irregular(w, d)
        if h.front > 0:  # the shed's straight side at the house wall
            g = affinity.scale(g, 1, -1, origin=(0, 0))
            g = affinity.translate(g, 0, d)
        x = self.u(ya0 + 0.3, ya1 - 0.3 - w)
        g = affinity.translate(g, x, yb0 + 0.2)
        h.used.add("ext")
        self._steel(g, epochs, "yard_shed", h.parcel_id, legal=legal, angle=self.pick([0., 90.]))
        return True

    def _area(self, kind: str) -> list[_Area]:
        return [a for a in self.areas if a.kind == kind]

    def _irregular_in(self, a: _Area, w: float, d: float) -> Polygon | None:
        """An irregular w x d shed outline on a free spot of ``a`` (None: no room)."""
        g0 = self._free_rect(a, w, d)
        if g0 is None:
            return None
        c = g0.centroid
        g = affinity.translate(self._irregular(w, d), c.x - w / 2, c.y - d / 2)
        if g0.bounds[2] - g0.bounds[0] < w - 0.01:
            g = affinity.rotate(g, 90, origin=c)
        return g

    def _steel_shed(self, epochs: frozenset[int], legal: bool) -> bool:
        areas = self._area("court")
        if not areas:
            return False
        a = areas[int(self.rng.integers(0, len(areas)))]
        w, d = self.u(3, 12), self.u(2.5, 6)
        g = self._irregular_in(a, w, d)
        if g is None:
            return False
        self._steel(g, epochs, "steel_shed", a.parcel_id, legal=legal)
        return True

    def _rooftop_shed(self, epochs: frozenset[int], legal: bool) -> bool:
        h = self._houses("roof", lambda h: h.roof == "flat")
        if h is None:
            return False
        a0, a1, b0, b1 = h.rect
        w, d = min(self.u(3, 6.5), a1 - a0 - 1.4), min(self.u(2.5, 5), b1 - b0 - 1.4)
        if w < 2 or d < 2:
            return False
        g = affinity.translate(self._irregular(w, d), self.u(a0 + 0.7, a1 - 0.7 - w),
                               self.u(b0 + 0.7, b1 - 0.7 - d))
        h.occupied.append(g.buffer(0.4))
        self._steel(g, epochs, "rooftop_shed", h.parcel_id, base=h.height, legal=legal)
        return True

    def _site_hut(self, epochs: frozenset[int], legal: bool) -> bool:
        rows = getattr(self, "site_rows", [])
        if not rows:
            return False
        row, pid = rows.pop(0)
        minx, miny, maxx, maxy = row.bounds
        n = int(round((maxx - minx) / 3.0))
        cabins = [box(minx + 3.0 * k, miny, minx + 3.0 * k + 3.0, maxy) for k in range(n)]
        col = self.jitter(STEEL["blue"], 6)
        t = self.thing("shed", [(c, epochs) for c in cabins], 2.9, pid, "site_hut",
                       RoofStyle("corrugated", tuple(int(c) for c in col), self.theta + 90),
                       scar="soil")
        if legal:
            fp = t.footprint(min(epochs))
            if fp is not None:
                self.permit(pid, "shed", fp)
        for c in cabins:
            self.item(c, "steel", col, 2.9, angle=90.0, epochs=epochs, param=0.5)
        return True

    def _green_area(self) -> _Area | None:
        areas = self._area("green")
        if not areas:
            return None
        return areas[int(self.rng.integers(0, len(areas)))]

    def _green_shed(self, epochs: frozenset[int], legal: bool) -> bool:
        a = self._green_area()
        if a is None:
            return False
        w, d = self.u(2.5, 6), self.u(2.2, 4)
        g = self._irregular_in(a, w, d)
        if g is None:
            return False
        self._steel(g, epochs, "green_shed", a.parcel_id, legal=False)
        return True

    def _green_building(self, epochs: frozenset[int], legal: bool) -> bool:
        a = self._green_area()
        if a is None:
            return False
        g = self._free_rect(a, self.u(4, 8), self.u(3.5, 6))
        if g is None:
            return False
        roof = str(self.pick(["flat", "tile"]))
        col = self.jitter(self.pick(FLAT_ROOFS if roof == "flat" else TILE_ROOFS))
        h = self.u(3.2, 6.5)
        t = self.thing("building", [(g, epochs)], h, a.parcel_id, "green_building",
                       RoofStyle(roof, tuple(int(c) for c in col), self.theta), scar="soil")
        self.item(g, roof, col, h, angle=self._long_angle(g), epochs=epochs, param=0.25,
                  group=t.site_id)
        if not epochs >= self.all:
            self._scar_after(g, epochs, "soil")
        return True

    def _green_annex(self, epochs: frozenset[int], legal: bool) -> bool:
        h = self._houses("ext", lambda h: h.green_side != 0 and h.green_gap > 4.5)
        if h is None:
            return False
        a0, a1, b0, b1 = h.rect
        depth = self.u(2.0, min(4.5, h.green_gap - 2.0))
        bw = b1 - b0
        s = self.u(b0, b0 + bw * 0.4)
        e = min(b1, s + self.u(0.5, 1.0) * bw)
        ext = box(a1, s, a1 + depth, e) if h.green_side > 0 else box(a0 - depth, s, a0, e)
        if not self.within(ext) or (e - s) * depth < 4:
            return False
        h.used.add("yard")
        self._extend(h, ext, epochs, "green_annex")
        if self.chance(0.5) and h.roof == "flat":
            self.item(ext, h.roof, h.color, h.height, epochs=epochs, param=0.3,
                      group=h.thing.site_id)
        else:
            col = self.jitter(self.pick(list(STEEL.values())))
            self.item(ext, "steel", col, self.u(2.8, 3.8), angle=90.0, epochs=epochs)
        return True

    def _ground_thing(self, epochs: frozenset[int], note: str, material: str) -> bool:
        a = self._green_area()
        if a is None:
            return False
        w, d = self.u(4, 14), self.u(3, 9)
        g0 = self._free_rect(a, w, d, any_angle=self.chance(0.4))
        if g0 is None:
            return False
        g = g0
        if material != "paving":  # cleared ground: a ragged outline
            c = g0.centroid
            g = affinity.scale(c.buffer(1.0, 10), (w / 2), (d / 2), origin=c)
            g = affinity.rotate(g, self._long_angle(g0), origin=c)
            g = g.intersection(a.free)
            if g.geom_type != "Polygon" or g.area < 4:
                return False
        self.thing("cleared_ground", [(g, epochs)], 0.0, a.parcel_id, note,
                   RoofStyle("slab", (150, 150, 150), self.theta))
        self.patch(g, material, 25, tone=self.u(0.85, 1.1), angle=self._long_angle(g0) +
                   self.theta, epochs=epochs)
        return True

    def _green_paving(self, epochs: frozenset[int], legal: bool) -> bool:
        return self._ground_thing(epochs, "green_paving", "paving")

    def _green_cleared(self, epochs: frozenset[int], legal: bool) -> bool:
        return self._ground_thing(epochs, "green_cleared",
                                  str(self.pick(["soil", "gravel", "soil"])))

    # billboards
    def _board_permit(self, g: Polygon, legal: bool, epochs: frozenset[int]) -> None:
        d0 = self.dates[0]
        if legal:
            until = None if self.chance(0.5) else self.dates[-1] + dt.timedelta(
                days=int(self.rng.integers(30, 700)))
        else:
            r = self.rng.random()
            if r < 0.45:
                return  # no permit at all
            if r < 0.75 or self.E == 1 or min(epochs) > 1:
                until = d0 - dt.timedelta(days=int(self.rng.integers(5, 400)))
            else:  # licensed on the first survey, lapsed by the next one
                until = self.dates[0] + dt.timedelta(
                    days=int(self.rng.integers(1, max(2, (self.dates[1] - d0).days))))
        c = g.centroid
        spot = Point(c.x + self.u(-1, 1), c.y + self.u(-1, 1))
        self.boards.append(BillboardPermit(self._id("AD"), spot if self.chance(0.7) else g,
                                           until))

    def _board(self, g: Polygon, base: float, epochs: frozenset[int], note: str, pid: str | None,
               legal: bool, angle: float) -> None:
        h = self.u(1.8, 3.5)
        col = self.pick([(230, 60, 40), (240, 200, 40), (40, 120, 200), (240, 240, 235),
                         (30, 150, 80)])
        self.thing("billboard", [(g, epochs)], h, pid, note,
                   RoofStyle("billboard", tuple(int(c) for c in col), angle + self.theta),
                   base=base)
        self.item(g, "board", col, base + h, base=base, angle=angle, epochs=epochs)
        self._board_permit(g, legal, epochs)

    def _pole_board(self, epochs: frozenset[int], legal: bool) -> bool:
        if not self.sidewalks:
            return False
        for _ in range(20):
            line, ang, width = self.sidewalks[int(self.rng.integers(0, len(self.sidewalks)))]
            p = line.interpolate(self.u(0, line.length))
            L, D = self.u(3, 6), self.u(0.4, 1.0)
            turn = self.chance(0.5)
            a = ang + (90.0 if turn else 0.0)
            g = affinity.rotate(box(p.x - L / 2, p.y - D / 2, p.x + L / 2, p.y + D / 2), a,
                                origin=p)
            if not self.within(g) or any(b.geometry.distance(g) < 6 for b in self.boards):
                continue
            if any(t.object_class == "billboard" and t.parts[0].geometry.distance(g) < 6
                   for t in self.things[-200:]):
                continue
            base = self.u(4, 8)
            self._board(g, base, epochs, "pole_billboard", None, legal, a)
            self.item(p.buffer(0.22, 8), "pole", (120, 120, 120), base, epochs=epochs)
            return True
        return False

    def _street_house(self) -> _House | None:
        return self._houses("roof", lambda h: h.street and h.roof == "flat"
                            and h.yard is None and h.thing.note == "village_house")

    def _roof_board(self, epochs: frozenset[int], legal: bool) -> bool:
        h = self._street_house()
        if h is None:
            return False
        a0, a1, b0, b1 = h.rect
        L = min(self.u(4, 8), a1 - a0 - 0.6)
        D = self.u(0.4, 0.8)
        s = self.u(a0 + 0.3, a1 - 0.3 - L)
        g = box(s, b0 + 0.3, s + L, b0 + 0.3 + D) if h.front < 0 else box(
            s, b1 - 0.3 - D, s + L, b1 - 0.3)
        h.occupied.append(g.buffer(0.5))
        self._board(g, h.height, epochs, "roof_edge_billboard", h.parcel_id, legal, 0.0)
        return True

    def _wall_board(self, epochs: frozenset[int], legal: bool) -> bool:
        h = self._houses("wall", lambda h: h.street and h.yard is None and "ext" not in h.used
                         and h.thing.note == "village_house")
        if h is None:
            return False
        h.used.add("ext")
        a0, a1, b0, b1 = h.rect
        L = min(self.u(3, 6), a1 - a0 - 0.4)
        D = self.u(0.3, 0.6)
        s = self.u(a0 + 0.2, a1 - 0.2 - L)
        g = box(s, b0 - D, s + L, b0) if h.front < 0 else box(s, b1, s + L, b1 + D)
        if not self.within(g):
            return False
        self._board(g, self.u(3, 5), epochs, "wall_billboard", h.parcel_id, legal, 0.0)
        return True

    # ---------------------------------------------------------------- street life
    def _decor(self) -> None:
        things = [p.geometry for t in self.things for p in t.parts]
        tree = shapely.STRtree(things) if things else None
        for line, ang, _ in self.sidewalks:
            d = self.u(2, 8)
            while d < line.length:
                p = line.interpolate(d)
                blocked = tree is not None and len(tree.query(p.buffer(1.0),
                                                              predicate="intersects"))
                r = self.rng.random()
                if not blocked and r < 0.55:
                    self._tree(p, self.u(2.0, 3.6))
                elif not blocked and r < 0.65:
                    self._bikes(p, ang)
                elif not blocked and r < 0.68:
                    g = affinity.rotate(box(p.x - 2.2, p.y - 0.7, p.x + 2.2, p.y + 0.7), ang,
                                        origin=p)
                    if self.within(g):
                        self.item(g, "shelter", (150, 170, 180), 2.6, angle=ang)
                elif r < 0.78:
                    g = affinity.rotate(box(p.x - 3, p.y - 0.35, p.x + 3, p.y + 0.35), ang,
                                        origin=p)
                    if self.within(g) and not blocked:
                        self.item(g, "shrub", (0, 0, 0), 0.9, param=1.0)
                d += self.u(6, 11)
        # parked and moving cars on carriageways, bollards, awnings
        car = self.carriage.intersection(self.district.buffer(-3))
        for _ in range(int(car.area // 160)):
            minx, miny, maxx, maxy = car.bounds
            p = Point(self.u(minx, maxx), self.u(miny, maxy))
            if car.buffer(-1.5).contains(p):
                ang = 0.0 if self._along_x(p) else 90.0
                self._car(p, ang)
        for h in self.houses:
            if h.street and h.thing.note == "village_house" and "ext" not in h.used \
                    and self.chance(0.12):
                a0, a1, b0, b1 = h.rect
                g = box(a0 + 0.2, b0 - 1.2, a1 - 0.2, b0) if h.front < 0 else box(
                    a0 + 0.2, b1, a1 - 0.2, b1 + 1.2)
                if self.within(g):
                    self.item(g, "awning", self.pick([(200, 50, 40), (40, 90, 170),
                                                      (230, 230, 225), (60, 140, 80)]),
                              3.0, base=2.6, angle=0.0, param=1.0)

    def _along_x(self, p: Point) -> bool:
        """Whether the carriageway at ``p`` runs along the frame's a axis (b roads)."""
        horiz = self.carriage.intersection(LineString([(p.x - 6, p.y), (p.x + 6, p.y)])).length
        vert = self.carriage.intersection(LineString([(p.x, p.y - 6), (p.x, p.y + 6)])).length
        return bool(horiz >= vert)

    def _bikes(self, p: Point, ang: float) -> None:
        for k in range(int(self.rng.integers(2, 7))):
            q = Point(p.x, p.y)
            off = (k - 2) * 0.7
            g = box(q.x - 0.8, q.y - 0.25, q.x + 0.8, q.y + 0.25)
            g = affinity.rotate(g, 90 + ang, origin=q)
            g = affinity.translate(g, off * math.cos(math.radians(ang)),
                                   off * math.sin(math.radians(ang)))
            if self.within(g):
                self.item(g, "bike", self.pick([(30, 30, 30), (200, 40, 40), (230, 200, 40),
                                                (40, 90, 180), (220, 220, 220)]), 1.1,
                          angle=90 + ang)

    # ---------------------------------------------------------------- registry & world
    def jurisdictions(self, x0: float, y0: float) -> list[Jurisdiction]:
        S = self.S
        names = DISTRICT_NAMES[self.cfg.seed % len(DISTRICT_NAMES)]
        split = S * self.u(0.4, 0.6)
        out = []
        for k, (lo, hi) in enumerate(((0.0, split), (split, S))):
            d = names[k]
            if self.chance(0.6):
                ys = S * self.u(0.35, 0.65)
                out += [Jurisdiction(d, f"{d}-1", box(x0 + lo, y0, x0 + hi, y0 + ys)),
                        Jurisdiction(d, f"{d}-2", box(x0 + lo, y0 + ys, x0 + hi, y0 + S))]
            else:
                out.append(Jurisdiction(d, f"{d}-1", box(x0 + lo, y0, x0 + hi, y0 + S)))
        return out


def _origin(config: WorldConfig) -> tuple[float, float]:
    rng = np.random.default_rng([config.seed, 977])
    lon = 120.30 + float(rng.uniform(-0.03, 0.03))
    lat = 31.57 + float(rng.uniform(-0.03, 0.03))
    x, y = Transformer.from_crs("EPSG:4326", config.crs, always_xy=True).transform(lon, lat)
    return float(round(x)), float(round(y))


def build_scene(config: WorldConfig) -> VillageScene:
    """Generate the village district of ``config`` (deterministic for its seed and size)."""
    v = _Village(config)
    v.build()
    x0, y0 = _origin(config)
    half = v.S / 2
    th = math.radians(v.theta)
    c, s = math.cos(th), math.sin(th)
    mat = [c, -s, s, c, x0 + half, y0 + half]

    def T(g: BaseGeometry) -> BaseGeometry:
        return affinity.affine_transform(g, mat)

    for p in v.parcels:
        p.geometry = T(p.geometry)
    for pm in v.permits:
        pm.geometry = T(pm.geometry)
    for b in v.boards:
        b.geometry = T(b.geometry)
    for t in v.things:
        for part in t.parts:
            part.geometry = T(part.geometry)
    for pa in v.patches:
        pa.geometry = T(pa.geometry)
        pa.angle += 0.0
    for it in v.items:
        it.geometry = T(it.geometry)
        it.angle += v.theta
    jur = v.jurisdictions(x0, y0)
    for p in v.parcels:
        rp = p.geometry.representative_point()
        p.district = next((j.district for j in jur if j.geometry.covers(rp)), jur[0].district)
    # the scene says which generator drew it (geodata.synthetic.kinds picks its renderer)
    config = dataclasses.replace(config, renderer="village")
    return VillageScene(config=config, origin=(x0, y0), dates=v.dates, parcels=v.parcels,
                        permits=v.permits, billboard_permits=v.boards, jurisdictions=jur,
                        things=v.things, patches=v.patches, items=v.items,
                        rotation_deg=v.theta)
