"""Survey flight planning: lawnmower coverage of an area of interest, split into missions."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from geodata.camera import PHANTOM4PRO, TELLO_DOWNWARD, CameraModel
from geodata.crs import WGS84, from_wgs84, transformer
from geodata.errors import InputError

PLAN_FORMAT = "skypatrol-plan/1"


class PlanError(InputError):
    """A plan the drone cannot fly: the message says which limit and by how much."""


@dataclass(frozen=True)
class DroneProfile:
    """What a drone can do (the planner's limits).

    Attributes:
        name: profile name used on the command line.
        camera: the mapping camera.
        max_altitude_m: highest allowed flight (airframe or regulation, whichever is lower).
        min_altitude_m: lowest sensible mapping altitude.
        speed_ms: cruise speed between capture points.
        flight_time_s: nominal flight time on a full battery.
        reserve: share of the battery kept in reserve.
        capture_s: hover time per photo.
        max_range_m: farthest distance from the take-off point (radio range / line of sight).
        gps: whether the drone positions itself by GNSS (else the plan is relative to take-off).
        max_go_cm: largest offset of one SDK ``go`` command (Tello), 0 for no limit.
        sdk_speed_cms: allowed SDK speed range (Tello), cm/s.

    """

    name: str
    camera: CameraModel
    max_altitude_m: float
    min_altitude_m: float
    speed_ms: float
    flight_time_s: float
    reserve: float
    capture_s: float
    max_range_m: float
    gps: bool
    max_go_cm: int = 0
    sdk_speed_cms: tuple[int, int] = (10, 100)

    @property
    def usable_s(self) -> float:
        """Flight time available to one mission, seconds."""
        return self.flight_time_s * (1 - self.reserve)


#: DJI Tello: ~13 min flights, SDK ``go x y z speed`` limited to +/-500 cm at 10-100 cm/s,
#: Wi-Fi range ~100 m, no GPS; maps with its downward camera.
TELLO = DroneProfile("tello", TELLO_DOWNWARD, 30.0, 2.0, 0.8, 13 * 60, 0.3, 1.5, 100.0,
                     False, 500, (10, 100))
#: DJI Phantom 4 Pro class mapping drone: ~28 min flights, 120 m altitude cap (CAAC light UAS
#: rules), visual line of sight ~500 m.
PHANTOM = DroneProfile("phantom4pro", PHANTOM4PRO, 120.0, 20.0, 8.0, 28 * 60, 0.25, 1.0, 500.0,
                       True)
PROFILES = {p.name: p for p in (TELLO, PHANTOM)}


@dataclass(frozen=True)
class PlanRequest:
    """What the analyst asks for."""

    aoi: Polygon  # in ``crs``
    crs: str
    drone: DroneProfile
    altitude_m: float | None = None
    gsd_cm: float | None = None
    front_overlap: float = 0.75
    side_overlap: float = 0.65
    takeoff: tuple[float, float] | None = None  # in ``crs``; default: the AOI's nearest corner

    def __post_init__(self) -> None:
        for name, v in (("front_overlap", self.front_overlap),
                        ("side_overlap", self.side_overlap)):
            if not 0.0 <= v < 0.95:
                raise PlanError(f"{name} must be within 0..0.95, got {v}")
        if self.altitude_m is not None and self.gsd_cm is not None:
            raise PlanError("give either --altitude-m or --gsd-cm, not both")


def altitude_for(req: PlanRequest) -> float:
    """Flight altitude from the request (or from the target GSD), within the drone's limits."""
    cam, d = req.drone.camera, req.drone
    alt = req.altitude_m
    if alt is None:
        gsd = (req.gsd_cm or 2.0) / 100.0
        alt = gsd * cam.focal_px
    if alt > d.max_altitude_m:
        raise PlanError(f"altitude {alt:.1f} m is above the {d.name}'s cap of "
                        f"{d.max_altitude_m:.0f} m (ask for a finer GSD or a lower altitude)")
    if alt < d.min_altitude_m:
        raise PlanError(f"altitude {alt:.1f} m is below the {d.name}'s minimum of "
                        f"{d.min_altitude_m:.0f} m")
    return alt


def _long_axis_deg(poly: Polygon) -> float:
    rect = poly.minimum_rotated_rectangle
    xy = list(rect.exterior.coords)
    edges = [(xy[i], xy[i + 1]) for i in range(4)]
    (a, b) = max(edges, key=lambda e: math.dist(e[0], e[1]))
    return math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))


def lawnmower(aoi: Polygon, spacing_m: float, step_m: float, angle_deg: float,
              margin_m: float) -> list[tuple[float, float]]:
    """Capture points along parallel lines at ``angle_deg``, boustrophedon order."""
    c = aoi.centroid
    local = affinity.rotate(aoi, -angle_deg, origin=c)
    area = local.buffer(margin_m)
    x0, y0, x1, y1 = area.bounds
    pts: list[tuple[float, float]] = []
    n_lines = max(1, math.ceil((y1 - y0) / spacing_m))
    offset = y0 + ((y1 - y0) - (n_lines - 1) * spacing_m) / 2
    for i in range(n_lines):
        y = offset + i * spacing_m
        seg = LineString([(x0 - step_m, y), (x1 + step_m, y)]).intersection(area)
        if seg.is_empty:
            continue
        sx0, _, sx1, _ = seg.bounds
        n = max(1, math.ceil((sx1 - sx0) / step_m))
        xs = [sx0 + k * (sx1 - sx0) / n for k in range(n + 1)]
        if i % 2:
            xs.reverse()
        for x in xs:
            p = affinity.rotate(Point(x, y), angle_deg, origin=c)
            pts.append((p.x, p.y))
    return pts


def _time(dist_m: float, captures: int, d: DroneProfile) -> float:
    return dist_m / d.speed_ms + captures * d.capture_s


def split_missions(points: list[tuple[float, float]], home: tuple[float, float],
                   d: DroneProfile, climb_s: float) -> list[list[tuple[float, float]]]:
    """Missions that each fit the usable battery, flying out from and back to ``home``."""
    missions: list[list[tuple[float, float]]] = []
    cur: list[tuple[float, float]] = []
    t_cur = 0.0
    for p in points:
        if not cur:
            out_back = 2 * math.dist(home, p)
            need = 2 * climb_s + _time(out_back, 1, d)
            if need > d.usable_s:
                raise PlanError(
                    f"capture point {math.dist(home, p):.0f} m from take-off needs {need:.0f} s "
                    f"there and back; the {d.name}'s battery allows {d.usable_s:.0f} s")
            cur, t_cur = [p], 2 * climb_s + _time(math.dist(home, p), 1, d)
            continue
        step = _time(math.dist(cur[-1], p), 1, d)
        if t_cur + step + _time(math.dist(p, home), 0, d) > d.usable_s:
            missions.append(cur)
            cur, t_cur = [p], 2 * climb_s + _time(math.dist(home, p), 1, d)
        else:
            cur.append(p)
            t_cur += step
    if cur:
        missions.append(cur)
    return missions


@dataclass(frozen=True)
class Move:
    """One SDK step of a Tello mission: a command, and the capture it reaches (if any)."""

    command: str
    capture: int | None = None  # index of the waypoint photographed after this step


def tello_moves(home: tuple[float, float], waypoints: list[tuple[float, float]],
                altitude_m: float, d: DroneProfile, heading_deg: float = 0.0) -> list[Move]:
    """The SDK steps of one Tello mission (body frame at take-off: x forward, y left, z up).

    Every ``go`` stays within the SDK's +/-``max_go_cm`` and speed limits, and moves under
    20 cm (which the SDK refuses) are carried into the next step; the drone takes off facing
    ``heading_deg`` (grid north by default) at ``home`` and comes back there to land.
    """
    speed = int(min(max(d.speed_ms * 100, d.sdk_speed_cms[0]), d.sdk_speed_cms[1]))
    lim = d.max_go_cm
    moves = [Move("command"), Move("downvision 1"), Move("takeoff")]
    climb = int(round(altitude_m * 100)) - 80  # the Tello hovers ~80 cm after take-off
    while climb > 20:
        step = min(climb, lim)
        moves.append(Move(f"up {step}"))
        climb -= step
    h = math.radians(heading_deg)
    pos = (0.0, 0.0)  # where the drone is, forward/left cm from take-off
    targets = [*[(p, i) for i, p in enumerate(waypoints)], (home, None)]
    for (x, y), idx in targets:
        de, dn = (x - home[0]) * 100, (y - home[1]) * 100
        fwd = dn * math.cos(h) + de * math.sin(h)
        left = -(de * math.cos(h) - dn * math.sin(h))
        dx, dy = fwd - pos[0], left - pos[1]
        n = max(1, math.ceil(max(abs(dx), abs(dy)) / lim))
        moved = False
        for k in range(n):
            sx = int(round(dx * (k + 1) / n)) - int(round(dx * k / n))
            sy = int(round(dy * (k + 1) / n)) - int(round(dy * k / n))
            if max(abs(sx), abs(sy)) >= 20:
                moves.append(Move(f"go {sx} {sy} 0 {speed}"))
                pos = (pos[0] + sx, pos[1] + sy)
                moved = True
        if idx is not None:
            if moved:
                moves[-1] = Move(moves[-1].command, idx)
            else:  # already there (within 20 cm): photograph from here
                moves.append(Move("keepalive", idx))
    moves.append(Move("land"))
    return moves


def tello_commands(home: tuple[float, float], waypoints: list[tuple[float, float]],
                   altitude_m: float, d: DroneProfile, heading_deg: float = 0.0) -> list[str]:
    """The SDK commands of :func:`tello_moves`, one per line of ``mission_<k>.txt``."""
    return [m.command for m in tello_moves(home, waypoints, altitude_m, d, heading_deg)]


def utm_crs_for(aoi_wgs84: BaseGeometry) -> CRS:
    """A projected CRS in metres for an AOI given in lon/lat (its UTM zone)."""
    x0, y0, x1, y1 = aoi_wgs84.bounds
    info = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(x0, y0, x1, y1))
    if not info:
        raise PlanError("no UTM zone found for the AOI")
    return CRS.from_epsg(int(info[0].code))


def plan_survey(req: PlanRequest) -> dict[str, Any]:
    """A survey plan as plain data (what ``plan.json`` holds)."""
    d, cam = req.drone, req.drone.camera
    if not req.aoi.is_valid or req.aoi.is_empty or req.aoi.area <= 0:
        raise PlanError("the AOI polygon is empty or invalid")
    alt = altitude_for(req)
    gsd = alt / cam.focal_px
    fp_w, fp_h = cam.width * gsd, cam.height * gsd  # across and along track, metres
    spacing = fp_w * (1 - req.side_overlap)
    step = fp_h * (1 - req.front_overlap)
    corners = list(req.aoi.exterior.coords)[:-1]
    home = req.takeoff if req.takeoff is not None else min(corners, key=lambda c: (c[1], c[0]))
    # the AOI's corners bound every waypoint: refuse an AOI out of range before planning it
    far = max(math.dist(home, c) for c in corners)
    if far > d.max_range_m:
        raise PlanError(f"the AOI reaches {far:.0f} m from the take-off point; the {d.name}'s "
                        f"range is {d.max_range_m:.0f} m (split the AOI or move the take-off)")
    angle = _long_axis_deg(req.aoi)
    pts = lawnmower(req.aoi, spacing, step, angle, margin_m=min(fp_w, fp_h) / 4)
    if not pts:
        raise PlanError("the AOI is too small for one capture at this altitude")
    far = max(math.dist(home, p) for p in pts)
    if far > d.max_range_m:
        raise PlanError(f"the AOI reaches {far:.0f} m from the take-off point; the {d.name}'s "
                        f"range is {d.max_range_m:.0f} m (split the AOI or move the take-off)")
    climb_s = alt / 2.0
    missions_pts = split_missions(pts, home, d, climb_s)
    to_ll = transformer(req.crs, WGS84)
    missions = []
    total_t = 0.0
    for k, mp in enumerate(missions_pts, start=1):
        dist = math.dist(home, mp[0]) + sum(math.dist(a, b) for a, b in zip(mp, mp[1:])) \
            + math.dist(mp[-1], home)
        t = climb_s * 2 + _time(dist, len(mp), d)
        total_t += t
        wps = []
        for x, y in mp:
            lon, lat = to_ll.transform(x, y)
            wps.append({"x": round(x, 3), "y": round(y, 3), "lon": round(lon, 7),
                        "lat": round(lat, 7), "alt_m": round(alt, 2), "capture": True,
                        "rel_m": [round(x - home[0], 2), round(y - home[1], 2)]})
        m: dict[str, Any] = {"index": k, "waypoints": wps, "distance_m": round(dist, 1),
                             "duration_s": round(t, 1),
                             "battery_pct": round(100 * t / d.flight_time_s, 1),
                             "drone": d.name, "camera": cam.name, "altitude_m": round(alt, 2),
                             "crs": CRS.from_user_input(req.crs).to_string(),
                             "takeoff": {"x": home[0], "y": home[1], "heading_deg": 0.0}}
        if not d.gps:
            m["sdk_commands"] = tello_commands(home, mp, alt, d)
        missions.append(m)
    hlon, hlat = to_ll.transform(*home)
    return {
        "format": PLAN_FORMAT, "drone": d.name, "camera": asdict(cam),
        "altitude_m": round(alt, 2), "gsd_cm": round(gsd * 100, 3),
        "front_overlap": req.front_overlap, "side_overlap": req.side_overlap,
        "line_spacing_m": round(spacing, 2), "capture_spacing_m": round(step, 2),
        "flight_direction_deg": round((90 - angle) % 360, 1), "crs": CRS.from_user_input(
            req.crs).to_string(),
        "takeoff": {"x": round(home[0], 3), "y": round(home[1], 3), "lon": round(hlon, 7),
                    "lat": round(hlat, 7), "heading_deg": 0.0},
        "relative_to_takeoff": not d.gps,
        "aoi": mapping(req.aoi),
        "missions": missions,
        "estimated_duration_s": round(total_t, 1),
        "estimated_battery_pct": round(100 * total_t / d.flight_time_s, 1),
    }


def read_aoi(path: Path | str, crs: str | None = None) -> tuple[Polygon, str]:
    """The AOI polygon from a GeoJSON file (WGS84) in ``crs`` (default: its UTM zone)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f"{p}: not a readable GeoJSON file ({exc})") from exc
    if not isinstance(data, dict) or "type" not in data:
        raise PlanError(f"{p}: not a GeoJSON object (a Feature, FeatureCollection or Polygon)")
    feats = data["features"] if data["type"] == "FeatureCollection" else [data]
    if not isinstance(feats, list) or not feats:
        raise PlanError(f"{p}: the FeatureCollection has no features; draw the AOI polygon")
    polys: list[Polygon] = []
    for k, f in enumerate(feats):
        geom = f.get("geometry") if isinstance(f, dict) and f.get("type") == "Feature" else f
        if geom is None:
            continue  # a feature without geometry adds no area
        try:
            g = shapely.geometry.shape(geom)
        except Exception as exc:  # noqa: BLE001 - shapely raises several types on bad input
            raise PlanError(f"{p}: feature {k}: not a GeoJSON geometry ({exc})") from exc
        if g.is_empty or not np.isfinite(np.asarray(g.bounds, float)).all():
            raise PlanError(f"{p}: feature {k}: empty geometry or coordinates that are not "
                            "numbers")
        # a MultiPolygon of one part is how QGIS exports a single polygon
        polys += [g] if isinstance(g, Polygon) else [
            q for q in getattr(g, "geoms", []) if isinstance(q, Polygon)]
    if not polys:
        raise PlanError(f"{p}: no polygon in the GeoJSON")
    x0, y0, x1, y1 = shapely.union_all(polys).bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise PlanError(f"{p}: coordinates are not WGS84 longitude/latitude (GeoJSON is "
                        "always WGS84)")
    aoi_ll = shapely.union_all(polys)
    if not isinstance(aoi_ll, Polygon):
        raise PlanError(f"{p}: the AOI must be one polygon (split it into several plans)")
    target = CRS.from_user_input(crs) if crs else utm_crs_for(aoi_ll)
    out = from_wgs84(aoi_ll, target)
    assert isinstance(out, Polygon)
    return out, target.to_string()


def write_plan(plan: dict[str, Any], out: Path | str) -> Path:
    """``plan.json``, ``plan.geojson`` and one ``mission_<k>.txt`` (and pilot-app files)."""
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    (d / "plan.json").write_text(json.dumps(plan, indent=2), encoding="utf-8")
    feats = []
    for m in plan["missions"]:
        line = [[w["lon"], w["lat"]] for w in m["waypoints"]]
        home = [plan["takeoff"]["lon"], plan["takeoff"]["lat"]]
        feats.append({"type": "Feature", "properties": {"mission": m["index"], "kind": "route"},
                      "geometry": {"type": "LineString", "coordinates": [home, *line, home]}})
        for k, w in enumerate(m["waypoints"]):
            feats.append({"type": "Feature",
                          "properties": {"mission": m["index"], "waypoint": k,
                                         "capture": w["capture"], "alt_m": w["alt_m"]},
                          "geometry": {"type": "Point", "coordinates": [w["lon"], w["lat"]]}})
    (d / "plan.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}),
        encoding="utf-8")
    for m in plan["missions"]:
        if "sdk_commands" in m:
            (d / f"mission_{m['index']}.txt").write_text("\n".join(m["sdk_commands"]) + "\n",
                                                         encoding="utf-8")
        else:  # a GNSS drone: a Litchi-style CSV a pilot app loads
            rows = ["latitude,longitude,altitude(m),heading(deg),curvesize(m),rotationdir,"
                    "gimbalmode,gimbalpitchangle,actiontype1,actionparam1"]
            for w in m["waypoints"]:
                rows.append(f"{w['lat']},{w['lon']},{w['alt_m']},0,0,0,2,-90,1,0")
            (d / f"mission_{m['index']}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return d / "plan.json"


def load_plan(path: Path | str) -> dict[str, Any]:
    """Read a plan written by ``skypatrol plan`` (its folder or ``plan.json``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "plan.json"
    try:
        plan: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f"{p}: not a readable plan ({exc})") from exc
    if plan.get("format") != PLAN_FORMAT:
        raise PlanError(f"{p}: not a skypatrol plan (format {plan.get('format')!r})")
    plan["missions"] = sorted(plan["missions"], key=lambda m: m["index"])
    return plan
