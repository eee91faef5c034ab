"""CRS helpers: the projected analysis CRS, WGS84 output and GCJ-02 for Chinese map apps."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from shapely import Geometry

from geodata.errors import CRSError

WGS84 = CRS.from_epsg(4326)
#: The demo's analysis CRS: CGCS2000 / 3-degree Gauss-Kruger CM 120E (the zone of Wuxi).
DEMO_CRS = CRS.from_epsg(4549)


def same_crs(a: Any, b: Any) -> bool:
    """Whether two CRSs (pyproj, rasterio, EPSG string, WKT) are the same one.

    Comparing pyproj CRSs costs about a millisecond; per-finding loops ask the same question
    thousands of times, so the answer is kept per pair.
    """
    if a is None or b is None:
        return a is b
    return _same_crs(_crs_key(a), _crs_key(b))


def _crs_key(c: Any) -> str:
    return c if isinstance(c, str) else str(c.to_wkt())


@lru_cache(maxsize=64)
def _same_crs(a: str, b: str) -> bool:
    return a == b or bool(CRS.from_user_input(a) == CRS.from_user_input(b))


def require_projected(crs: Any, where: str) -> CRS:
    """Return ``crs`` as a pyproj CRS, refusing a missing or non-metric one.

    Args:
        crs: anything pyproj accepts (EPSG code, WKT, rasterio CRS) or None.
        where: the file/layer it came from, for the error message.

    Raises:
        CRSError: no CRS, a geographic CRS, or a projected CRS not in metres.

    """
    if crs is None:
        raise CRSError(f"{where}: no CRS; assign the data's projected CRS (in metres)")
    c = CRS.from_user_input(crs)
    if not c.is_projected:
        raise CRSError(
            f"{where}: CRS {c.to_string()} is geographic; skypatrol measures areas in a "
            "projected CRS in metres (e.g. EPSG:4549 for Wuxi) — reproject the data first"
        )
    unit = c.axis_info[0].unit_name if c.axis_info else ""
    if unit not in ("metre", "meter", "m"):
        raise CRSError(f"{where}: CRS {c.to_string()} has units '{unit}', need metres")
    return c


@lru_cache(maxsize=64)
def _transformer(src_wkt: str, dst_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), always_xy=True)


def transformer(src: Any, dst: Any) -> Transformer:
    """A cached, always-xy (easting/longitude first) transformer between two CRSs."""
    return _transformer(CRS.from_user_input(src).to_wkt(), CRS.from_user_input(dst).to_wkt())


def to_wgs84(geom: Geometry, crs: Any) -> Geometry:
    """Reproject a shapely geometry from ``crs`` to WGS84 lon/lat."""
    return _reproject(geom, transformer(crs, WGS84))


def from_wgs84(geom: Geometry, crs: Any) -> Geometry:
    """Reproject a shapely geometry from WGS84 lon/lat to ``crs``."""
    return _reproject(geom, transformer(WGS84, crs))


def _reproject(geom: Geometry, t: Transformer) -> Geometry:
    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = t.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


def round_coords(obj: Any, digits: int = 7) -> Any:
    """Round every float in a GeoJSON-like structure (RFC 7946 asks for at most 7 decimals)."""
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, (list, tuple)):
        return [round_coords(v, digits) for v in obj]
    if isinstance(obj, dict):
        return {k: round_coords(v, digits) for k, v in obj.items()}
    return obj


# --- GCJ-02 -----------------------------------------------------------------------------
# The published (leaked, widely reimplemented) WGS84 -> GCJ-02 obfuscation on the Krasovsky
# ellipsoid. Outside mainland China GCJ-02 equals WGS84.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon > 73.66) & (lon < 135.05) & (lat > 3.86) & (lat < 53.55)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    pi = math.pi
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrtmagic * np.cos(radlat) * pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert WGS84 lon/lat (degrees, scalars or arrays) to GCJ-02 as used by Amap/Tencent."""
    lo = np.asarray(lon, dtype=float)
    la = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lo, la)
    inside = _in_china(lo, la)
    out_lon = np.where(inside, lo + dlon, lo)
    out_lat = np.where(inside, la + dlat, la)
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        return float(out_lon), float(out_lat)
    return out_lon, out_lat


def gcj02_to_wgs84(lon: Any, lat: Any, tol_deg: float = 1e-9) -> tuple[Any, Any]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (error below ``tol_deg``)."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        tlon, tlat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = np.asarray(tlon) - glon, np.asarray(tlat) - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < tol_deg) and np.all(np.abs(elat) < tol_deg):
            break
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        return float(wlon), float(wlat)
    return wlon, wlat


# --- BD-09 -------------------------------------------------------------------------------
# Baidu Maps' published offset of GCJ-02 (applied everywhere, not only in China).
_BD_X_PI = math.pi * 3000.0 / 180.0


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert GCJ-02 lon/lat (degrees, scalars or arrays) to BD-09 as used by Baidu Maps."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
    out_lon, out_lat = z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        return float(out_lon), float(out_lat)
    return out_lon, out_lat


def utm_crs_at(lon: float, lat: float) -> CRS:
    """The WGS 84 UTM zone's CRS (metres) at a point given in lon/lat degrees."""
    info = query_utm_crs_info(datum_name="WGS 84",
                              area_of_interest=AreaOfInterest(lon, lat, lon, lat))
    if not info:
        raise CRSError(f"no UTM zone at lon {lon}, lat {lat}")
    return CRS.from_epsg(int(info[0].code))
