"""Photos of any camera: placed by a flight height or a ground model when there is no DJI XMP."""

import numpy as np
import piexif
import pytest
import rasterio
from affine import Affine
from PIL import Image
from pyproj import Transformer

from geodata.georef import NoPoseError, Placement, read_dji_pose
from pipeline.ingest import IngestConfig, ingest

CRS = "EPSG:4549"
LON, LAT = 120.30, 31.57
GROUND_ASL_M = 12.0


def _rational(v, d=1000):
    return (int(round(v * d)), d)


def _dms(deg):
    d = int(deg)
    m = int((deg - d) * 60)
    s = (deg - d - m / 60) * 3600
    return ((d, 1), (m, 1), _rational(s, 100))


def write_camera_jpeg(path, height_above_ground=40.0, width=1200, height=800):
    """A photo as a non-DJI camera writes it: EXIF GPS (altitude above sea level) and the
    lens and focal plane resolution; no drone-dji XMP."""
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(60, 200, (height, width, 3), dtype=np.uint8)).save(path)
    exif = {
        "0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"EOS M50"},
        "Exif": {piexif.ExifIFD.FocalLength: (24, 1),
                 # 22.3 mm wide APS-C sensor over 6000 px as shot; this copy is 1200 px
                 piexif.ExifIFD.FocalPlaneXResolution: _rational(6000 / 22.3 * 10),
                 piexif.ExifIFD.FocalPlaneResolutionUnit: 3,  # centimetres
                 piexif.ExifIFD.PixelXDimension: 6000},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: _dms(LAT),
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: _dms(LON),
                piexif.GPSIFD.GPSAltitudeRef: 0,
                piexif.GPSIFD.GPSAltitude: _rational(GROUND_ASL_M + height_above_ground)},
    }
    piexif.insert(piexif.dump(exif), str(path))
    return path


def test_a_photo_without_dji_xmp_asks_for_a_flight_height(tmp_path):
    p = write_camera_jpeg(tmp_path / "IMG_0001.JPG")
    with pytest.raises(NoPoseError, match="--flight-height"):
        read_dji_pose(p, CRS)


def test_a_flight_height_places_the_photo_at_its_gps_position(tmp_path):
    p = write_camera_jpeg(tmp_path / "IMG_0001.JPG")
    frame = read_dji_pose(p, CRS, placement=Placement(flight_height_m=40.0))
    x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(LON, LAT)
    c = frame.footprint().centroid
    assert np.hypot(c.x - x, c.y - y) < 1.0  # well within a GPS's few metres
    # 24 mm over 22.3 mm across 1200 px at 40 m: 3.1 cm per pixel
    assert frame.gsd_cm == pytest.approx(40 / (24 / 22.3 * 1200) * 100, rel=0.01)


def test_a_ground_model_places_the_photo_by_its_gps_altitude(tmp_path):
    p = write_camera_jpeg(tmp_path / "IMG_0001.JPG", height_above_ground=55.0)
    x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(LON, LAT)
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=100, height=100, count=1,
                       dtype="float32", crs=CRS,
                       transform=Affine(2.0, 0, x - 100, 0, -2.0, y + 100)) as ds:
        ds.write(np.full((1, 100, 100), GROUND_ASL_M, np.float32))
    frame = read_dji_pose(p, CRS, placement=Placement(dem=dem))
    assert frame.pose.altitude_m == pytest.approx(55.0, abs=0.01)


def test_ingest_places_other_cameras_with_the_survey_flight_height(tmp_path):
    write_camera_jpeg(tmp_path / "IMG_0001.JPG")
    skipped = ingest([tmp_path], CRS, strict=False)
    assert skipped.records()[0]["reason"] == "no_height"
    assert "--flight-height" in skipped.records()[0]["detail"]
    placed = ingest([tmp_path], CRS, IngestConfig(placement=Placement(flight_height_m=40.0)))
    assert placed.records()[0]["status"] == "ok"


def test_an_impossible_flight_height_is_refused():
    with pytest.raises(ValueError, match="flight height"):
        Placement(flight_height_m=-5)
