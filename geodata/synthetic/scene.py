"""The synthetic district as vectors: parcels, roads, structures, permits and their changes."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyproj import CRS, Transformer
from shapely import affinity
from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

#: Wuxi city centre (WGS84 lon, lat); worlds are placed within a few km of it.
RGB = tuple[int, ...]  # an RGB colour, 0..255

WUXI_LONLAT = (120.305, 31.570)
#: The world generators ``skypatrol synth --renderer`` offers (``geodata.synthetic.kinds``).
RENDERERS = ("classic", "village")
DISTRICTS = ("Liangxi", "Binhu", "Xinwu", "Huishan", "Xishan")

# Roof palettes (RGB). Steel sheds: the blue, white and red corrugated roofs of the field.
SHED_COLORS = {
    "blue": ((38, 88, 168), (70, 120, 200)),
    "white": ((205, 210, 212), (240, 242, 244)),
    "red": ((150, 40, 32), (196, 70, 52)),
    "grey": ((140, 146, 150), (175, 180, 184)),
}
BUILDING_FLAT = ((120, 118, 112), (200, 196, 188))
BUILDING_TILE = (((120, 60, 45), (170, 95, 70)), ((70, 72, 78), (110, 112, 118)))
WAREHOUSE = ((60, 105, 160), (150, 160, 168))
VIOLATION_NOTES = frozenset(
    {"yard_shed", "rooftop_shed", "green_shed", "green_building", "green_paving",
     "green_cleared", "roof_billboard", "pole_billboard"}
)


@dataclass(frozen=True)
class WorldConfig:
    """What to synthesize.

    Attributes:
        size_m: side of the square district in metres.
        gsd_cm: ground sample distance of the orthophotos, cm per pixel.
        seed: the one seed every random choice derives from.
        epochs: number of survey epochs (each a later flight over the same district).
        crs: the projected analysis CRS (metres).
        violation_density: violations per hectare in epoch 1 (wide-ranging by default).
        renderer: which generator draws the world (``RENDERERS``): ``classic`` (this
            package) or ``village`` (``geodata.village``, written independently: dense urban
            villages), so accuracy can be measured on worlds the model and checks were not
            built on.

    """

    size_m: float = 500.0
    gsd_cm: float = 5.0
    seed: int = 0
    epochs: int = 2
    crs: str = "EPSG:4549"
    violation_density: float = 1.2
    renderer: str = "classic"

    def __post_init__(self) -> None:
        if self.renderer not in RENDERERS:
            raise ValueError(f"renderer must be one of {', '.join(RENDERERS)}, "
                             f"got {self.renderer!r}")
        if not 40.0 <= self.size_m <= 5000.0:
            raise ValueError(f"size_m must be within 40..5000 m, got {self.size_m}")
        if not 1.0 <= self.gsd_cm <= 50.0:
            raise ValueError(f"gsd_cm must be within 1..50 cm, got {self.gsd_cm}")
        if not 1 <= self.epochs <= 12:
            raise ValueError(f"epochs must be within 1..12, got {self.epochs}")
        if not CRS.from_user_input(self.crs).is_projected:
            raise ValueError(f"crs must be projected (metres), got {self.crs}")


@dataclass(frozen=True)
class RoofStyle:
    """How a structure's top looks from above."""

    kind: str  # flat | gable | corrugated | tile | billboard | slab
    color: RGB
    angle_deg: float  # ridge / corrugation direction, degrees from the x axis
    details: int = 0  # number of rooftop AC units, tanks, solar panels


@dataclass
class Part:
    """A convex piece of a structure, present in some epochs."""

    geometry: Polygon
    epochs: frozenset[int]
    style: RoofStyle


@dataclass
class Thing:
    """One physical object with a stable site id across epochs.

    ``object_class`` is the contract's class (building, shed, billboard, cleared_ground);
    ``note`` tells how the generator meant it (``yard_shed``, ``rooftop_shed``, ``extension``…).
    """

    site_id: str
    object_class: str
    parts: list[Part]
    height_m: float
    parcel_id: str | None
    note: str
    base_m: float = 0.0  # height of the base above ground (rooftop sheds, pole billboards)
    scar: str | None = None  # surface left behind when removed (soil, grass, concrete)

    def footprint(self, epoch: int) -> Polygon | None:
        """Union of the parts present in ``epoch`` (None when absent)."""
        geoms = [p.geometry for p in self.parts if epoch in p.epochs]
        if not geoms:
            return None
        g = unary_union(geoms)
        if not isinstance(g, Polygon):  # parts that only touch: close the hairline gap
            g = g.buffer(0.01, join_style="mitre").buffer(-0.01, join_style="mitre")
        if not isinstance(g, Polygon):
            g = max(getattr(g, "geoms", [g]), key=lambda q: q.area)
        return g

    def removed_parts(self, epoch: int) -> list[Part]:
        """Parts that existed in an earlier epoch and are gone in ``epoch``."""
        return [p for p in self.parts if epoch not in p.epochs and min(p.epochs) < epoch]


@dataclass
class Ground:
    """A ground surface polygon (parcel fill, road, paving, water...), drawn in z order."""

    geometry: BaseGeometry
    material: str
    color: RGB
    z: int
    epochs: frozenset[int] | None = None  # None: every epoch


@dataclass
class Decor:
    """Trees and cars: not in the registry, not detected, there to look real and distract."""

    geometry: Polygon
    kind: str  # tree | car
    color: RGB
    height_m: float
    epochs: frozenset[int] | None = None


@dataclass
class Parcel:
    """A registered parcel."""

    parcel_id: str
    land_use: str
    geometry: Polygon
    district: str = ""


@dataclass
class Permit:
    """A permitted structure footprint (``building`` or ``shed``)."""

    permit_id: str
    parcel_id: str
    kind: str
    geometry: Polygon


@dataclass
class BillboardPermit:
    """A billboard licence: its place (point or polygon) and expiry date (None: no expiry)."""

    permit_id: str
    geometry: BaseGeometry
    valid_until: dt.date | None


@dataclass
class Jurisdiction:
    """The area one squad covers."""

    district: str
    squad: str
    geometry: Polygon


@dataclass
class Scene:
    """The whole district in world coordinates (the config's CRS)."""

    config: WorldConfig
    origin: tuple[float, float]  # world x, y of the local (0, 0) corner
    dates: list[dt.date]
    parcels: list[Parcel] = field(default_factory=list)
    permits: list[Permit] = field(default_factory=list)
    billboard_permits: list[BillboardPermit] = field(default_factory=list)
    jurisdictions: list[Jurisdiction] = field(default_factory=list)
    things: list[Thing] = field(default_factory=list)
    ground: list[Ground] = field(default_factory=list)
    decor: list[Decor] = field(default_factory=list)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """World bounds (minx, miny, maxx, maxy) of the district."""
        x0, y0 = self.origin
        s = self.config.size_m
        return (x0, y0, x0 + s, y0 + s)


# --------------------------------------------------------------------------------------
# generation


def _rgb(rng: np.random.Generator, lo: tuple[int, ...], hi: tuple[int, ...]) -> tuple[int, ...]:
    t = rng.random()
    jitter = rng.normal(0, 6, 3)
    return tuple(int(np.clip(a + (b - a) * t + j, 0, 255)) for a, b, j in zip(lo, hi, jitter))


def _rect(cx: float, cy: float, w: float, h: float, angle_deg: float) -> Polygon:
    r = box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    return affinity.rotate(r, angle_deg, origin=(cx, cy)) if angle_deg else r


class _Builder:
    """Builds a :class:`Scene` in local metres, then shifts it to world coordinates."""

    def __init__(self, config: WorldConfig):
        self.cfg = config
        self.rng = np.random.default_rng(config.seed)
        self.S = config.size_m
        self.theta = float(self.rng.uniform(-25, 25))  # street grid orientation
        self.center = (self.S / 2, self.S / 2)
        self.world_box = box(0, 0, self.S, self.S)
        self.inner_box = box(3, 3, self.S - 3, self.S - 3)
        self.parcels: list[Parcel] = []
        self.permits: list[Permit] = []
        self.bpermits: list[BillboardPermit] = []
        self.things: list[Thing] = []
        self.ground: list[Ground] = []
        self.decor: list[Decor] = []
        self.occupied: dict[str, list[Polygon]] = {}
        self.counters: dict[str, int] = {}
        self.hosts_used: set[str] = set()
        self.all_epochs = frozenset(range(1, config.epochs + 1))
        d0 = dt.date(2026, 3, 1) + dt.timedelta(days=int(self.rng.integers(0, 60)))
        self.dates = [d0 + dt.timedelta(days=int(61 * k)) for k in range(config.epochs)]

    def next_id(self, prefix: str) -> str:
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}{self.counters[prefix]:04d}"

    def rot(self, g: BaseGeometry) -> BaseGeometry:
        return affinity.rotate(g, self.theta, origin=self.center)

    # ---- layout ----------------------------------------------------------------------
    def layout(self) -> list[tuple[Polygon, str, float]]:
        """Roads and blocks in the rotated street frame; returns (block, use, angle)."""
        rng = self.rng
        half = self.S * 0.75
        lo, hi = self.S / 2 - half, self.S / 2 + half

        def cuts() -> list[tuple[float, float]]:
            out, pos = [], lo + rng.uniform(0, 60)
            while pos < hi:
                width = float(rng.choice([8.0, 10.0, 12.0, 16.0]))
                out.append((pos, width))
                pos += width + rng.uniform(75, 150)
            return out

        xs, ys = cuts(), cuts()
        roads = [box(x, lo, x + w, hi) for x, w in xs] + [box(lo, y, hi, y + w) for y, w in ys]
        road_union = unary_union([self.rot(r) for r in roads]).intersection(self.world_box)
        pid = self.next_id("P")
        self.parcels.append(Parcel(pid, "road", road_union))
        self.ground.append(Ground(road_union, "asphalt", _rgb(rng, (70, 70, 72), (100, 98, 96)), 1))
        self._markings(xs, ys, lo, hi)
        blocks = []
        bx = [lo] + [x + w for x, w in xs] + [hi]
        bx_end = [x for x, _ in xs] + [hi]
        by = [lo] + [y + w for y, w in ys] + [hi]
        by_end = [y for y, _ in ys] + [hi]
        for x0, x1 in zip(bx, bx_end):
            for y0, y1 in zip(by, by_end):
                if x1 - x0 < 10 or y1 - y0 < 10:
                    continue
                block = box(x0, y0, x1, y1)
                if not self.rot(block).intersects(self.world_box):
                    continue
                use = str(
                    rng.choice(
                        ["residential", "commercial", "industrial", "park", "mixed"],
                        p=[0.34, 0.16, 0.16, 0.14, 0.20],
                    )
                )
                blocks.append((block, use, self.theta))
        return blocks

    def _markings(self, xs: list[tuple[float, float]], ys: list[tuple[float, float]], lo: float,
                  hi: float) -> None:
        rng = self.rng
        white = (228, 228, 222)
        for x, w in xs:
            if w >= 10:
                cx = x + w / 2
                pos = lo
                while pos < hi:
                    dash = box(cx - 0.08, pos, cx + 0.08, pos + 3.0)
                    g = self.rot(dash).intersection(self.world_box)
                    if not g.is_empty:
                        self.ground.append(Ground(g, "marking", white, 2))
                    pos += 9.0
        for y, w in ys:
            if w >= 10:
                cy = y + w / 2
                line = box(lo, cy - 0.08, hi, cy + 0.08)
                g = self.rot(line).intersection(self.world_box)
                color = (220, 190, 60) if rng.random() < 0.5 else white
                self.ground.append(Ground(g, "marking", color, 2))

    def split(self, block: Polygon, min_side: float) -> list[Polygon]:
        x0, y0, x1, y1 = block.bounds
        w, h = x1 - x0, y1 - y0
        if max(w, h) < 2 * min_side or (max(w, h) < 3 * min_side and self.rng.random() < 0.3):
            return [block]
        t = self.rng.uniform(0.35, 0.65)
        if w >= h:
            xm = x0 + w * t
            return self.split(box(x0, y0, xm, y1), min_side) + self.split(
                box(xm, y0, x1, y1), min_side
            )
        ym = y0 + h * t
        return self.split(box(x0, y0, x1, ym), min_side) + self.split(
            box(x0, ym, x1, y1), min_side
        )

    def build(self) -> None:
        rng = self.rng
        for block, use, _ in self.layout():
            for cell in self.split(block, rng.uniform(22, 40)):
                if use == "park":
                    lu = str(rng.choice(["green", "green", "green", "water"]))
                elif use == "mixed":
                    lu = str(
                        rng.choice(
                            ["residential", "commercial", "public", "green", "other", "industrial"],
                            p=[0.3, 0.15, 0.15, 0.2, 0.1, 0.1],
                        )
                    )
                else:
                    lu = use if rng.random() < 0.8 else str(rng.choice(["green", "other"]))
                world_cell = self.rot(cell).intersection(self.world_box)
                if world_cell.is_empty or world_cell.area < 30 or world_cell.geom_type != "Polygon":
                    continue
                pid = self.next_id("P")
                self.parcels.append(Parcel(pid, lu, world_cell))
                self.occupied[pid] = []
                self.fill_parcel(pid, lu, cell, world_cell)

    # ---- parcel content --------------------------------------------------------------
    def free(self, pid: str, g: Polygon, margin: float = 1.2) -> bool:
        """True if ``g`` lies inside the district and clear of what the parcel already holds."""
        if not self.inner_box.contains(g):
            return False
        gb = g.buffer(margin)
        return not any(gb.intersects(o) for o in self.occupied[pid])

    def place(
        self,
        pid: str,
        cell: Polygon,
        w: float,
        h: float,
        inset: float,
        tries: int = 25,
        margin: float = 1.2,
    ) -> Polygon | None:
        """A free rectangle w x h (street-frame aligned, small jitter) inside the parcel."""
        x0, y0, x1, y1 = cell.bounds
        if x1 - x0 < w + 2 * inset or y1 - y0 < h + 2 * inset:
            return None
        for _ in range(tries):
            cx = self.rng.uniform(x0 + inset + w / 2, x1 - inset - w / 2)
            cy = self.rng.uniform(y0 + inset + h / 2, y1 - inset - h / 2)
            g = self.rot(_rect(cx, cy, w, h, float(self.rng.normal(0, 2))))
            assert isinstance(g, Polygon)
            if self.free(pid, g, margin):
                return g
        return None

    def add_building(
        self, pid: str, g: Polygon, style: RoofStyle, height: float, permit: bool = True
    ) -> Thing:
        part = Part(g, self.all_epochs, style)
        t = Thing(self.next_id("S"), "building", [part], height, pid, "building")
        self.things.append(t)
        self.occupied[pid].append(g)
        if permit:
            self.permits.append(Permit(self.next_id("BP"), pid, "building", g))
        return t

    def roof_style(self, kind: str, angle: float) -> RoofStyle:
        rng = self.rng
        if kind == "flat":
            return RoofStyle("flat", _rgb(rng, *BUILDING_FLAT), angle, int(rng.integers(0, 6)))
        if kind == "tile":
            pal = BUILDING_TILE[int(rng.integers(0, 2))]
            return RoofStyle("gable", _rgb(rng, *pal), angle)
        if kind == "warehouse":
            return RoofStyle("corrugated", _rgb(rng, *WAREHOUSE), angle, int(rng.integers(0, 3)))
        color_name = str(rng.choice(list(SHED_COLORS), p=[0.45, 0.25, 0.15, 0.15]))
        return RoofStyle("corrugated", _rgb(rng, *SHED_COLORS[color_name]), angle)

    def fill_parcel(self, pid: str, lu: str, cell: Polygon, wcell: Polygon) -> None:
        rng = self.rng
        surf = {
            "residential": ("concrete", (150, 148, 140), (185, 180, 170)),
            "commercial": ("asphalt", (85, 85, 88), (120, 118, 115)),
            "industrial": ("concrete", (135, 132, 125), (170, 166, 158)),
            "public": ("paving", (160, 150, 140), (195, 185, 170)),
            "green": ("grass", (70, 110, 45), (110, 140, 70)),
            "water": ("water", (40, 70, 75), (70, 100, 95)),
            "other": ("soil", (130, 110, 80), (170, 145, 110)),
        }[lu]
        self.ground.append(Ground(wcell, surf[0], _rgb(rng, surf[1], surf[2]), 3))
        if lu in ("residential", "public", "commercial", "industrial") and rng.random() < 0.5:
            # a strip of lawn along one side: yards are not uniform
            x0, y0, x1, y1 = cell.bounds
            strip = box(x0, y0, x0 + min(4.0, (x1 - x0) * 0.2), y1)
            g = self.rot(strip).intersection(wcell)
            if not g.is_empty:
                self.ground.append(Ground(g, "grass", _rgb(rng, (80, 115, 50), (115, 145, 75)), 4))
        x0, y0, x1, y1 = cell.bounds
        W, H = x1 - x0, y1 - y0
        ang = self.theta
        if lu == "residential":
            for _ in range(int(rng.integers(1, 3))):
                w, h = rng.uniform(9, min(22, W - 6)), rng.uniform(9, min(26, H - 6))
                if w < 8 or h < 8:
                    break
                g = self.place(pid, cell, w, h, 3.0)
                if g is not None:
                    kind = str(rng.choice(["flat", "tile"]))
                    style = self.roof_style(kind, ang + 90 * int(w < h))
                    self.add_building(pid, g, style, rng.uniform(6, 22))
            if rng.random() < 0.3:
                self.legal_shed(pid, cell)
        elif lu == "commercial":
            w, h = rng.uniform(14, max(15, W - 8)), rng.uniform(12, max(13, H - 10))
            g = self.place(pid, cell, min(w, 45), min(h, 40), 4.0)
            if g is not None:
                t = self.add_building(pid, g, self.roof_style("flat", ang), rng.uniform(8, 30))
                if rng.random() < 0.45:
                    self.billboard(pid, t, licensed=rng.random() < 0.6)
            self.cars(pid, cell, int(rng.integers(2, 10)))
        elif lu == "industrial":
            w, h = rng.uniform(18, max(19, W - 6)), rng.uniform(14, max(15, H - 6))
            g = self.place(pid, cell, min(w, 60), min(h, 45), 3.0)
            if g is not None:
                self.add_building(pid, g, self.roof_style("warehouse", ang + 90 * int(w > h)), 9)
            if rng.random() < 0.5:
                self.legal_shed(pid, cell)
            self.cars(pid, cell, int(rng.integers(0, 4)))
        elif lu == "public":
            g = self.place(pid, cell, min(W - 8, rng.uniform(12, 30)), min(H - 8, 14), 4.0)
            if g is not None:
                self.add_building(pid, g, self.roof_style("flat", ang), rng.uniform(6, 15))
            court = self.place(pid, cell, 15, 28, 2.0)
            if court is not None:
                color = _rgb(rng, (150, 70, 60), (60, 120, 90))
                self.ground.append(Ground(court, "court", color, 5))
                self.occupied[pid].append(court)
        elif lu == "other" and rng.random() < 0.5:
            self.cars(pid, cell, int(rng.integers(0, 3)))
        if lu not in ("water",):
            self.trees(pid, cell, lu)

    def legal_shed(self, pid: str, cell: Polygon) -> None:
        rng = self.rng
        w, h = rng.uniform(3, 7), rng.uniform(3, 9)
        g = self.place(pid, cell, w, h, 1.0)
        if g is None:
            return
        t = Thing(
            self.next_id("S"),
            "shed",
            [Part(g, self.all_epochs, self.roof_style("shed", self.theta + 90 * int(w < h)))],
            rng.uniform(2.5, 4.0),
            pid,
            "permitted_shed",
        )
        self.things.append(t)
        self.occupied[pid].append(g)
        self.permits.append(Permit(self.next_id("SP"), pid, "shed", g))

    def billboard(
        self,
        pid: str,
        on: Thing | None,
        licensed: bool,
        cell: Polygon | None = None,
        epochs: frozenset[int] | None = None,
        expire_between: bool = False,
    ) -> Thing | None:
        rng = self.rng
        length, depth = rng.uniform(5, 12), rng.uniform(0.7, 1.3)
        epochs = epochs or self.all_epochs
        if on is not None:
            fp = on.parts[0].geometry
            # along the longest edge of the roof, just inside it
            coords = list(fp.exterior.coords)[:4]
            edges = [(coords[i], coords[(i + 1) % 4]) for i in range(4)]
            (ax, ay), (bx, by) = max(
                edges, key=lambda e: math.hypot(e[1][0] - e[0][0], e[1][1] - e[0][1])
            )
            elen = math.hypot(bx - ax, by - ay)
            length = min(length, elen * 0.8)
            ux, uy = (bx - ax) / elen, (by - ay) / elen
            cx0, cy0 = fp.centroid.x, fp.centroid.y
            mx, my = (ax + bx) / 2, (ay + by) / 2
            nx, ny = cx0 - mx, cy0 - my
            nlen = math.hypot(nx, ny)
            nx, ny = nx / nlen, ny / nlen
            t = rng.uniform(-0.2, 0.2) * elen
            cx = mx + ux * t + nx * (depth / 2 + 0.4)
            cy = my + uy * t + ny * (depth / 2 + 0.4)
            ang = math.degrees(math.atan2(uy, ux))
            g = _rect(cx, cy, length, depth, ang)
            base, height, note = on.height_m, rng.uniform(3, 6), "roof_billboard"
            pid = on.parcel_id or pid
        else:
            assert cell is not None
            g = self.place(pid, cell, length, depth, 0.8, margin=2.0)
            if g is None:
                return None
            base, height, note = rng.uniform(5, 9), rng.uniform(3, 5), "pole_billboard"
        if not self.inner_box.contains(g):
            return None
        if on is not None and any(t.object_class == "billboard" and t.note == "roof_billboard"
                                  and g.distance(t.parts[0].geometry) < 1.0 for t in self.things):
            return None  # one board per roof edge: two overlapping boards would read as one
        style = RoofStyle("billboard", _rgb(rng, (60, 62, 66), (120, 120, 124)), 0.0)
        thing = Thing(self.next_id("S"), "billboard", [Part(g, epochs, style)], height, pid, note)
        thing.base_m = base
        self.things.append(thing)
        self.occupied[pid].append(g)
        if licensed or expire_between:
            d_first = self.dates[0]
            if expire_between and len(self.dates) > 1:
                valid = self.dates[0] + (self.dates[1] - self.dates[0]) / 2
            elif rng.random() < 0.5:
                valid = None
            else:
                valid = d_first + dt.timedelta(days=int(rng.integers(400, 1500)))
            place: BaseGeometry = g.centroid if rng.random() < 0.6 else g
            if rng.random() < 0.5 and isinstance(place, Point):
                place = Point(place.x + rng.normal(0, 0.7), place.y + rng.normal(0, 0.7))
            self.bpermits.append(BillboardPermit(self.next_id("AD"), place, valid))
        elif rng.random() < 0.4:
            # an expired licence: still illegal on every survey date
            valid = self.dates[0] - dt.timedelta(days=int(rng.integers(30, 700)))
            self.bpermits.append(BillboardPermit(self.next_id("AD"), g.centroid, valid))
        return thing

    def cars(self, pid: str, cell: Polygon, n: int) -> None:
        rng = self.rng
        palette = [(230, 230, 230), (30, 30, 34), (160, 160, 165), (150, 30, 30), (40, 60, 120)]
        for _ in range(n):
            g = self.place(pid, cell, 1.8, 4.5, 1.0, tries=6, margin=0.6)
            if g is None:
                continue
            if rng.random() < 0.5:
                g = affinity.rotate(g, 90)
            c = palette[int(rng.integers(0, len(palette)))]
            self.decor.append(Decor(g, "car", c, 1.5))

    def trees(self, pid: str, cell: Polygon, lu: str) -> None:
        rng = self.rng
        x0, y0, x1, y1 = cell.bounds
        n = int(cell.area / (250 if lu == "green" else 600) * rng.uniform(0.3, 1.5))
        for _ in range(n):
            r = rng.uniform(1.5, 4.0)
            cx, cy = rng.uniform(x0 + r, x1 - r), rng.uniform(y0 + r, y1 - r)
            c = self.rot(Point(cx, cy))
            g = c.buffer(r, quad_segs=8)
            if not self.free(pid, g, 0.5):
                continue
            col = _rgb(rng, (35, 70, 30), (80, 115, 55))
            self.decor.append(Decor(g, "tree", col, rng.uniform(4, 12)))
            self.occupied[pid].append(g)

    # ---- violations ------------------------------------------------------------------
    def violations(self, epochs: frozenset[int], n: int) -> None:
        """Add ``n`` violations of mixed kinds, present in ``epochs``."""
        rng = self.rng
        kinds = [
            "yard_shed",
            "rooftop_shed",
            "extension",
            "green_shed",
            "green_building",
            "green_paving",
            "green_cleared",
            "roof_billboard",
            "pole_billboard",
        ]
        weights = np.array([0.2, 0.12, 0.12, 0.1, 0.05, 0.08, 0.1, 0.11, 0.12])
        made = 0
        for _ in range(n * 8):
            if made >= n:
                break
            kind = str(rng.choice(kinds, p=weights / weights.sum()))
            if self.violation(kind, epochs):
                made += 1

    def _parcels(self, *uses: str) -> list[Parcel]:
        return [p for p in self.parcels if p.land_use in uses]

    def _cell(self, p: Parcel) -> Polygon:
        g = affinity.rotate(p.geometry, -self.theta, origin=self.center)
        return box(*g.bounds) if g.area / box(*g.bounds).area > 0.97 else g

    def violation(self, kind: str, epochs: frozenset[int]) -> bool:
        rng = self.rng
        if kind in ("yard_shed", "pole_billboard"):
            uses = ("residential", "industrial", "commercial", "other")
            cands = self._parcels(*uses)
            if kind == "pole_billboard":
                cands = self._parcels("other", "commercial", "public")
        elif kind.startswith("green"):
            cands = self._parcels("green")
        else:
            cands = []
        if kind in ("rooftop_shed", "extension", "roof_billboard"):
            buildings = [
                t
                for t in self.things
                if t.object_class == "building" and t.note == "building" and t.parcel_id
            ]
            if kind == "rooftop_shed":
                buildings = [b for b in buildings if b.parts[0].style.kind == "flat"]
            if not buildings:
                return False
            host = buildings[int(rng.integers(0, len(buildings)))]
            if host.site_id in self.hosts_used:
                return False
            self.hosts_used.add(host.site_id)
            return self._on_building(kind, host, epochs)
        if not cands:
            return False
        parcel = cands[int(rng.integers(0, len(cands)))]
        cell = self._cell(parcel)
        pid = parcel.parcel_id
        if kind == "pole_billboard":
            return self.billboard(pid, None, licensed=False, cell=cell, epochs=epochs) is not None
        if kind in ("yard_shed", "green_shed"):
            w, h = rng.uniform(3, 9), rng.uniform(3, 12)
            g = self.place(pid, cell, w, h, 0.8)
            if g is None:
                return False
            style = self.roof_style("shed", self.theta + 90 * int(w < h))
            scar = "grass" if kind == "green_shed" else "soil"
            t = Thing(self.next_id("S"), "shed", [Part(g, epochs, style)], rng.uniform(2.5, 4.5),
                      pid, kind, scar=scar)
        elif kind == "green_building":
            w, h = rng.uniform(8, 14), rng.uniform(8, 16)
            g = self.place(pid, cell, w, h, 1.0)
            if g is None:
                return False
            style = self.roof_style(str(rng.choice(["flat", "tile"])), self.theta + 90 * int(w < h))
            t = Thing(self.next_id("S"), "building", [Part(g, epochs, style)],
                      rng.uniform(4, 8), pid, kind, scar="grass")
        else:
            w, h = rng.uniform(6, 20), rng.uniform(6, 20)
            g = self.place(pid, cell, w, h, 0.5)
            if g is None:
                return False
            if kind == "green_paving":
                style = RoofStyle("slab", _rgb(rng, (150, 148, 140), (200, 196, 188)), self.theta)
            else:
                style = RoofStyle("soil", _rgb(rng, (120, 95, 65), (175, 145, 105)), self.theta)
            t = Thing(self.next_id("S"), "cleared_ground", [Part(g, epochs, style)], 0.0, pid,
                      kind, scar="grass")
        self.things.append(t)
        self.occupied[pid].append(g)
        return True

    def _on_building(self, kind: str, host: Thing, epochs: frozenset[int]) -> bool:
        rng = self.rng
        pid = host.parcel_id
        assert pid is not None
        fp = host.parts[0].geometry
        local = affinity.rotate(fp, -self.theta, origin=self.center)
        x0, y0, x1, y1 = local.bounds
        if kind == "roof_billboard":
            return self.billboard(pid, host, licensed=False, epochs=epochs) is not None
        if kind == "rooftop_shed":
            W, H = x1 - x0, y1 - y0
            w, h = rng.uniform(3, min(8, W - 2)), rng.uniform(3, min(10, H - 2))
            if w < 3 or h < 3:
                return False
            cx = rng.uniform(x0 + 1 + w / 2, x1 - 1 - w / 2)
            cy = rng.uniform(y0 + 1 + h / 2, y1 - 1 - h / 2)
            g = self.rot(_rect(cx, cy, w, h, 0.0))
            assert isinstance(g, Polygon)
            if not fp.buffer(-0.5).contains(g):
                return False
            style = self.roof_style("shed", self.theta + 90 * int(w < h))
            t = Thing(self.next_id("S"), "shed", [Part(g, epochs, style)], 2.8, pid,
                      "rooftop_shed", base_m=host.height_m, scar="roof")
            t.parcel_id = pid
            self.things.append(t)
            return True
        # extension: a lower annex glued to one side of a permitted building
        side = int(rng.integers(0, 4))
        depth = rng.uniform(3, 7)
        corners = np.asarray(fp.exterior.coords)[:4]
        a, b = corners[side], corners[(side + 1) % 4]
        mid = (a + b) / 2
        n = mid - np.asarray(fp.centroid.coords[0])
        n /= np.linalg.norm(n)
        o = 0.02  # glued: overlap the wall by 2 cm so the union is one polygon
        p0, p1 = a + (b - a) * 0.1, a + (b - a) * 0.9
        g = Polygon([p0 - n * o, p1 - n * o, p1 + n * depth, p0 + n * depth])
        assert isinstance(g, Polygon)
        others = [o for o in self.occupied[pid] if not o.equals(fp)]
        if not self.inner_box.contains(g) or any(g.buffer(1.0).intersects(o) for o in others):
            return False
        parcel_geom = next(p.geometry for p in self.parcels if p.parcel_id == pid)
        if not parcel_geom.buffer(-0.5).contains(g):
            return False
        same = rng.random() < 0.4
        style = host.parts[0].style if same else self.roof_style(
            str(rng.choice(["flat", "shed"])), self.theta + (90 if side < 2 else 0)
        )
        host.parts.append(Part(g, epochs, style))
        host.note = "extension"
        self.occupied[pid].append(g)
        return True

    # ---- epochs ----------------------------------------------------------------------
    def evolve(self) -> None:
        """Later epochs: some violations removed, some new ones, the rest unchanged."""
        rng = self.rng
        n0 = max(4, int(self.cfg.violation_density * self.S * self.S / 10_000))
        self.violations(self.all_epochs, n0)
        # licences that lapse between the first two surveys
        if self.cfg.epochs > 1:
            homes = [p for p in self.parcels if p.land_use in ("commercial", "other")]
            for _ in range(max(1, n0 // 12)):
                if homes:
                    p = homes[int(rng.integers(0, len(homes)))]
                    self.billboard(p.parcel_id, None, licensed=False, cell=self._cell(p),
                                   expire_between=True)
        for e in range(2, self.cfg.epochs + 1):
            for t in self.things:
                if t.note == "extension":
                    candidates = t.parts[1:]
                elif t.note in VIOLATION_NOTES:
                    candidates = t.parts
                else:
                    continue
                parts = [q for q in candidates if (e - 1) in q.epochs]
                if not parts or rng.random() > 0.35:
                    continue
                if t.object_class == "billboard" and self._board_licensed(t, self.dates[e - 2]):
                    continue
                for q in parts:
                    q.epochs = frozenset(k for k in q.epochs if k < e)
            later = frozenset(range(e, self.cfg.epochs + 1))
            self.violations(later, max(2, n0 // 4))

    def _board_licensed(self, t: Thing, date: dt.date) -> bool:
        g = t.parts[0].geometry.buffer(2.0)
        return any(
            g.intersects(bp.geometry) and (bp.valid_until is None or bp.valid_until >= date)
            for bp in self.bpermits
        )

    def jurisdictions(self) -> list[Jurisdiction]:
        rng = self.rng
        names = list(rng.choice(DISTRICTS, size=2, replace=False))
        cut = self.S * rng.uniform(0.35, 0.65)
        vertical = rng.random() < 0.5
        halves = (
            [box(0, 0, cut, self.S), box(cut, 0, self.S, self.S)]
            if vertical
            else [box(0, 0, self.S, cut), box(0, cut, self.S, self.S)]
        )
        out = []
        for name, half in zip(names, halves):
            x0, y0, x1, y1 = half.bounds
            if vertical:
                ym = y0 + (y1 - y0) * rng.uniform(0.4, 0.6)
                parts = [box(x0, y0, x1, ym), box(x0, ym, x1, y1)]
            else:
                xm = x0 + (x1 - x0) * rng.uniform(0.4, 0.6)
                parts = [box(x0, y0, xm, y1), box(xm, y0, x1, y1)]
            for k, part in enumerate(parts, start=1):
                out.append(Jurisdiction(str(name), f"{name}-{k}", part))
        return out


def _origin(config: WorldConfig) -> tuple[float, float]:
    rng = np.random.default_rng([config.seed, 7])
    lon = WUXI_LONLAT[0] + rng.uniform(-0.04, 0.04)
    lat = WUXI_LONLAT[1] + rng.uniform(-0.03, 0.03)
    t = Transformer.from_crs("EPSG:4326", config.crs, always_xy=True)
    x, y = t.transform(lon, lat)
    s = config.size_m
    return (round(x - s / 2, 0), round(y - s / 2, 0))


def build_scene(config: WorldConfig) -> Scene:
    """Generate the district for ``config``: deterministic for a given seed and size."""
    b = _Builder(config)
    b.build()
    b.evolve()
    jur = b.jurisdictions()
    for p in b.parcels:
        c = p.geometry.representative_point()
        p.district = next((j.district for j in jur if j.geometry.covers(c)), jur[0].district)
    ox, oy = _origin(config)

    def shift(g: Any) -> Any:
        return affinity.translate(g, ox, oy)

    scene = Scene(config=config, origin=(ox, oy), dates=b.dates)
    scene.parcels = [Parcel(p.parcel_id, p.land_use, shift(p.geometry), p.district)
                     for p in b.parcels]
    scene.permits = [Permit(p.permit_id, p.parcel_id, p.kind, shift(p.geometry))
                     for p in b.permits]
    scene.billboard_permits = [
        BillboardPermit(p.permit_id, shift(p.geometry), p.valid_until) for p in b.bpermits
    ]
    scene.jurisdictions = [Jurisdiction(j.district, j.squad, shift(j.geometry)) for j in jur]
    for t in b.things:
        for part in t.parts:
            part.geometry = shift(part.geometry)
    scene.things = b.things
    scene.ground = [Ground(shift(g.geometry), g.material, g.color, g.z, g.epochs)
                    for g in b.ground]
    scene.decor = [Decor(shift(d.geometry), d.kind, d.color, d.height_m, d.epochs)
                   for d in b.decor]
    return scene
