import math

import pytest
from shapely.geometry import Point

from geodata.crs import (
    DEMO_CRS,
    from_wgs84,
    gcj02_to_wgs84,
    require_projected,
    to_wgs84,
    wgs84_to_gcj02,
)
from skypatrol.errors import CRSError

# (wgs84 lon, lat) -> (gcj02 lon, lat): published reference pairs of other implementations
# (eviltransform's test suite for Shanghai, Shenzhen and Beijing, and two further Beijing points).
REFERENCE = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    ((116.0, 40.0), (116.006141221789, 40.001213650174)),
    ((116.39089, 39.90734), (116.39713094, 39.90874107)),
]


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_gcj02_matches_reference_pairs(wgs, gcj):
    lon, lat = wgs84_to_gcj02(*wgs)
    assert lon == pytest.approx(gcj[0], abs=2e-7)
    assert lat == pytest.approx(gcj[1], abs=2e-7)


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_gcj02_inverse_round_trip(wgs, gcj):
    lon, lat = gcj02_to_wgs84(*gcj)
    assert lon == pytest.approx(wgs[0], abs=1e-6)
    assert lat == pytest.approx(wgs[1], abs=1e-6)


def test_gcj02_is_identity_outside_china():
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)


def test_gcj02_offset_in_wuxi_is_a_few_hundred_metres():
    lon, lat = 120.305, 31.57
    glon, glat = wgs84_to_gcj02(lon, lat)
    dx = (glon - lon) * 111_320 * math.cos(math.radians(lat))
    dy = (glat - lat) * 110_540
    assert 200 < math.hypot(dx, dy) < 800


def test_require_projected_refuses_geographic_and_missing():
    with pytest.raises(CRSError, match="geographic"):
        require_projected("EPSG:4326", "x.gpkg")
    with pytest.raises(CRSError, match="no CRS"):
        require_projected(None, "x.tif")
    assert require_projected("EPSG:4549", "ok").to_epsg() == 4549


def test_wgs84_round_trip_in_demo_crs():
    p = Point(529000.0, 3493000.0)
    back = from_wgs84(to_wgs84(p, DEMO_CRS), DEMO_CRS)
    assert back.distance(p) < 1e-6
    ll = to_wgs84(p, DEMO_CRS)
    assert 120.0 < ll.x < 121.0 and 31.0 < ll.y < 32.0
