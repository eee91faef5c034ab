"""Georeferencing: camera pose from DJI EXIF/XMP or Tello sidecars, and photos onto the ground."""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rasterio
from affine import Affine
from PIL import Image
from pyproj import CRS
from rasterio.merge import merge
from shapely.geometry import Polygon

from geodata.camera import CAMERAS, CameraModel, Pose, footprint, ground_to_image, nadir_gsd_m
from geodata.crs import transformer
from geodata.errors import InvalidImageryError

#: Sensor widths (mm) of DJI cameras by EXIF model, for photos without CalibratedFocalLength.
DJI_SENSOR_WIDTH_MM = {"FC6310": 13.2, "FC6310S": 13.2, "FC330": 6.17, "FC6510": 13.2,
                       "FC220": 6.17, "L1D-20c": 13.2, "FC3170": 6.4, "FC3582": 9.7}
_XMP_ATTR = re.compile(rb'drone-dji:(\w+)="([^"]*)"')
_XMP_ELEM = re.compile(rb"<drone-dji:(\w+)>([^<]*)</drone-dji:\1>")


class NoPoseError(InvalidImageryError):
    """A photo carries no usable position (no GPS, no sidecar)."""


class NoHeightError(NoPoseError):
    """A photo has a position but no height above the ground (another camera than DJI's)."""


@dataclass(frozen=True)
class FramePose:
    """A photo's camera and pose in a projected CRS, and where they came from."""

    camera: CameraModel
    pose: Pose
    crs: str
    source: str  # dji-exif | tello-sidecar

    def footprint(self) -> Polygon:
        """Ground footprint of the whole image in ``crs``."""
        return footprint(self.camera, self.pose)

    @property
    def gsd_cm(self) -> float:
        """Ground sample distance straight below the camera, cm per pixel."""
        return nadir_gsd_m(self.camera, self.pose.altitude_m) * 100


def read_xmp(raw: bytes) -> dict[str, str]:
    """``drone-dji:`` fields of a JPEG's XMP packet (attribute or element form)."""
    start = raw.find(b"<x:xmpmeta")
    if start < 0:
        return {}
    end = raw.find(b"</x:xmpmeta>", start)
    packet = raw[start : end if end > 0 else start + 65536]
    out = {k.decode(): v.decode() for k, v in _XMP_ATTR.findall(packet)}
    out.update({k.decode(): v.decode() for k, v in _XMP_ELEM.findall(packet)})
    return out


def _ratio(v: Any) -> float:
    try:
        return float(v)
    except TypeError:
        num, den = v
        return float(num) / float(den)


def _dms(values: Any, ref: Any) -> float:
    d, m, s = (_ratio(v) for v in values)
    deg = d + m / 60 + s / 3600
    ref_s = ref.decode() if isinstance(ref, bytes) else str(ref)
    return -deg if ref_s.strip().upper() in ("S", "W") else deg


@dataclass(frozen=True)
class Placement:
    """How to place photos that carry no height above ground (no ``drone-dji:`` XMP).

    Attributes:
        flight_height_m: the flight's height above the ground, metres.
        dem: a ground model (GeoTIFF) with heights above the same datum as the photos'
            EXIF GPS altitude; the height above ground is the altitude minus the DEM there.

    """

    flight_height_m: float | None = None
    dem: Path | None = None

    def __post_init__(self) -> None:
        if self.flight_height_m is not None and not 1.0 <= self.flight_height_m <= 1500.0:
            raise ValueError(f"flight height {self.flight_height_m} m is not a drone's "
                             "(1-1500 m above ground)")

    def height_above_ground(self, lon: float, lat: float, gps_alt_m: float | None,
                            source: str) -> float | None:
        """The photo's height above the ground, or None when this placement cannot tell."""
        if self.flight_height_m is not None:
            return self.flight_height_m
        if self.dem is None:
            return None
        if gps_alt_m is None:
            raise NoPoseError(f"{source}: no EXIF GPS altitude to set against the DEM "
                              f"{self.dem}; use --flight-height")
        with rasterio.open(self.dem) as ds:
            x, y = transformer("EPSG:4326", ds.crs).transform(lon, lat)
            r, c = ds.index(x, y)
            if not (0 <= r < ds.height and 0 <= c < ds.width):
                raise NoPoseError(f"{source}: the photo lies outside the DEM {self.dem}")
            ground = float(next(ds.sample([(x, y)]))[0])
            if math.isnan(ground) or (ds.nodata is not None and ground == ds.nodata):
                raise NoPoseError(f"{source}: the DEM {self.dem} has no height there")
        h = gps_alt_m - ground
        if h <= 1.0:
            raise NoPoseError(f"{source}: GPS altitude {gps_alt_m:.1f} m is not above the DEM's "
                              f"ground ({ground:.1f} m); are both heights above the same datum?")
        return h


def _focal_px_from_exif(exif_ifd: Any, model: str, width: int) -> float | None:
    """Focal length in pixels from EXIF, or None.

    From a known sensor width, else the focal plane resolution, else the 35 mm equivalent.
    """
    f_mm = _ratio(exif_ifd.get(0x920A, 0) or 0)
    sensor = DJI_SENSOR_WIDTH_MM.get(model)
    if f_mm and sensor:
        return f_mm / sensor * width
    res = _ratio(exif_ifd.get(0xA20E, 0) or 0)  # FocalPlaneXResolution, pixels per unit
    unit_mm = {2: 25.4, 3: 10.0, 4: 1.0}.get(int(exif_ifd.get(0xA210, 2) or 2))
    native_w = int(exif_ifd.get(0xA002, 0) or 0) or width  # PixelXDimension as shot
    if f_mm and res and unit_mm:
        return f_mm * res / unit_mm * width / native_w
    f35 = exif_ifd.get(0xA405)
    if f35:
        return float(f35) / 36.0 * width
    return None


def read_dji_pose(path: Path | str, crs: Any, raw: bytes | None = None,
                  placement: Placement | None = None) -> FramePose:
    """Camera and pose of a drone photo from its EXIF GPS and ``drone-dji:`` XMP.

    The altitude is XMP ``RelativeAltitude`` (height above the take-off point, taken as the
    ground); EXIF's GPS altitude is above sea level and is not used. Photos of other cameras
    (no such XMP) are placed by ``placement``: a flight height, or a DEM against the EXIF
    altitude. The focal length in pixels is DJI's ``CalibratedFocalLength`` scaled to this
    image's width (DJI writes it for the native sensor size), else from EXIF (a known
    sensor width, ``FocalPlaneXResolution`` or the 35 mm equivalent). Without gimbal XMP the
    camera is taken as nadir with the image's top to the north.

    Raises:
        NoPoseError: no GPS position, or no height above ground.
        InvalidImageryError: the file cannot be decoded.

    """
    p = str(path)
    data = raw if raw is not None else Path(path).read_bytes()
    try:
        img = Image.open(io.BytesIO(data))
        width, height = img.size
        exif = img.getexif()
    except Exception as exc:
        raise InvalidImageryError(f"{p}: cannot read the image ({exc})") from exc
    gps = exif.get_ifd(0x8825)
    xmp = read_xmp(data)
    if 2 in gps and 4 in gps:
        lat = _dms(gps[2], gps.get(1, "N"))
        lon = _dms(gps[4], gps.get(3, "E"))
    elif "GpsLatitude" in xmp and ("GpsLongtitude" in xmp or "GpsLongitude" in xmp):
        lat = float(xmp["GpsLatitude"])
        lon = float(xmp.get("GpsLongtitude", xmp.get("GpsLongitude", "nan")))
    else:
        raise NoPoseError(f"{p}: no GPS position in EXIF or XMP; georeference it by hand or "
                          "supply an orthophoto")
    if "RelativeAltitude" in xmp:
        height_m = float(xmp["RelativeAltitude"])
    else:
        below = gps.get(5) in (1, b"\x01")  # GPSAltitudeRef: 1 is below sea level
        gps_alt = _ratio(gps[6]) * (-1 if below else 1) if 6 in gps else None
        found = (placement or Placement()).height_above_ground(lon, lat, gps_alt, p)
        if found is None:
            raise NoHeightError(
                f"{p}: no height above ground (no drone-dji:RelativeAltitude; EXIF altitude is "
                "above sea level); give the flight height with --flight-height M, or a ground "
                "model with --dem DEM.tif")
        height_m = found
    model = (exif.get(0x0110) or "").strip("\x00 ")
    if "CalibratedFocalLength" in xmp:
        native_w = 2 * float(xmp.get("CalibratedOpticalCenterX", width / 2))
        k = width / native_w
        f_px = float(xmp["CalibratedFocalLength"]) * k
        cx = float(xmp.get("CalibratedOpticalCenterX", native_w / 2)) * k
        cy = float(xmp.get("CalibratedOpticalCenterY", height / (2 * k))) * k
    else:
        found_f = _focal_px_from_exif(exif.get_ifd(0x8769), model, width)
        if found_f is None:
            raise NoPoseError(f"{p}: no focal length (CalibratedFocalLength, FocalLength with a "
                              f"known sensor or FocalPlaneXResolution, or a 35 mm equivalent) "
                              f"for model '{model}'")
        f_px = found_f
        cx, cy = width / 2, height / 2
    cam = CameraModel(model or "dji", width, height, f_px, cx, cy)
    x, y = transformer("EPSG:4326", crs).transform(lon, lat)
    yaw = float(xmp.get("GimbalYawDegree", xmp.get("FlightYawDegree", "0")))
    pitch = float(xmp.get("GimbalPitchDegree", "-90"))
    roll = float(xmp.get("GimbalRollDegree", "0"))
    try:
        pose = Pose(x, y, height_m, yaw, pitch, roll)
    except ValueError as exc:
        raise NoPoseError(f"{p}: unusable pose ({exc})") from exc
    return FramePose(cam, pose, CRS.from_user_input(crs).to_string(), "dji-exif")


def tello_sidecar(path: Path | str) -> Path:
    """The pose sidecar of a Tello capture (same stem, ``.json``)."""
    return Path(path).with_suffix(".json")


def read_tello_pose(path: Path | str, crs: Any) -> FramePose:
    """Camera and pose of a Tello capture from its sidecar.

    A Tello has no GPS: the position is the planned waypoint (in the plan's CRS), the height
    is the drone's measured height (``state.h``, cm; ``tof`` when ``h`` is missing), and the
    heading is the take-off heading plus the drone's yaw.
    """
    side = tello_sidecar(path)
    if not side.exists():
        raise NoPoseError(f"{path}: Tello capture without its pose sidecar {side.name}")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        cam = CAMERAS[meta["camera"]]
        planned, state = meta["planned"], meta["state"]
        height_cm = float(state.get("h") or state["tof"])
        src_crs = meta.get("crs", crs)
        x, y = transformer(src_crs, crs).transform(planned["x"], planned["y"])
        yaw = float(meta.get("takeoff_heading_deg", 0.0)) + float(state.get("yaw", 0.0))
        # the downward camera looks straight down whatever the small attitude; the forward
        # camera tilts with the airframe
        tilt = 0.0 if cam.mount_pitch_deg <= -90.0 else float(state.get("pitch", 0.0))
        pitch = max(-90.0, cam.mount_pitch_deg + tilt)
        pose = Pose(x, y, height_cm / 100.0, yaw, pitch, float(state.get("roll", 0)))
    except (KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise NoPoseError(f"{side}: unusable Tello pose sidecar ({exc})") from exc
    with Image.open(path) as img:
        w, _ = img.size
    if w != cam.width:
        cam = cam.scaled(w)
    return FramePose(cam, pose, CRS.from_user_input(crs).to_string(), "tello-sidecar")


def georeference_frame(
    rgb: np.ndarray, frame: FramePose, out: Path | str, gsd_m: float | None = None
) -> Path:
    """Project a photo onto the ground plane as a north-up GeoTIFF in the frame's CRS.

    Args:
        rgb: the photo, HWC RGB uint8.
        frame: its camera and pose.
        out: GeoTIFF to write (tiled, deflate, with an internal mask where the photo is).
        gsd_m: output pixel size; default the nadir GSD of the photo.

    """
    h, w = rgb.shape[:2]
    cam = frame.camera if frame.camera.width == w else frame.camera.scaled(w)
    gsd = gsd_m or nadir_gsd_m(cam, frame.pose.altitude_m)
    try:
        fp = footprint(cam, frame.pose)
    except ValueError as exc:
        msg = f"{out}: cannot project the photo onto the ground ({exc})"
        raise InvalidImageryError(msg) from exc
    x0, y0, x1, y1 = fp.bounds
    width = int(math.ceil((x1 - x0) / gsd))
    height = int(math.ceil((y1 - y0) / gsd))
    if width * height > 400e6:
        raise InvalidImageryError(f"{out}: footprint too large to rasterize at {gsd:.3f} m "
                                  "(a frame looking at the horizon?)")
    transform = Affine(gsd, 0, x0, 0, -gsd, y1)
    H = ground_to_image(cam, frame.pose)
    # output pixel index -> world (pixel centres) -> image edge coords -> image index
    T = np.array([[gsd, 0, x0 + gsd / 2], [0, -gsd, y1 - gsd / 2], [0, 0, 1.0]])
    S_inv = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1.0]])
    dst_to_src = S_inv @ H @ T
    warped = cv2.warpPerspective(rgb, dst_to_src, (width, height),
                                 flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    valid = cv2.warpPerspective(np.full((h, w), 255, np.uint8), dst_to_src, (width, height),
                                flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 3,
               "dtype": "uint8", "crs": frame.crs, "transform": transform, "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate", "photometric": "rgb"}
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(p, "w", **profile) as dst:
            dst.write(np.moveaxis(warped, 2, 0))
            dst.write_mask(valid)
            dst.update_tags(SKYPATROL_POSE_SOURCE=frame.source, SKYPATROL_GSD_CM=f"{gsd * 100:.2f}")
    return p


def mosaic(frames: list[Path], out: Path | str, gsd_m: float | None = None) -> Path:
    """Merge georeferenced frames (same CRS) into one orthophoto with ``rasterio.merge``."""
    if not frames:
        raise InvalidImageryError("mosaic: no georeferenced frames to merge")
    srcs = [rasterio.open(f) for f in frames]
    try:
        crs = {s.crs.to_wkt() for s in srcs}
        if len(crs) > 1:
            raise InvalidImageryError("mosaic: frames are in different CRSs; georeference them "
                                      "into one analysis CRS first")
        res = (gsd_m, gsd_m) if gsd_m else None
        arr, transform = merge(srcs, res=res, nodata=0)
        profile = {"driver": "GTiff", "width": arr.shape[2], "height": arr.shape[1],
                   "count": arr.shape[0], "dtype": arr.dtype, "crs": srcs[0].crs,
                   "transform": transform, "tiled": True, "compress": "deflate", "nodata": 0}
    finally:
        for s in srcs:
            s.close()
    p = Path(out)
    with rasterio.open(p, "w", **profile) as dst:
        dst.write(arr)
    return p


def box_px_to_world(transform: Affine, box_px: tuple[float, float, float, float]) -> Polygon:
    """World polygon of a pixel box (col0, row0, col1, row1) given by pixel *edges*.

    Exact for any affine transform (rotated or sheared grids included): each corner is
    ``transform * (col, row)``, never a pixel centre.
    """
    c0, r0, c1, r1 = box_px
    corners = [(c0, r0), (c1, r0), (c1, r1), (c0, r1)]
    return Polygon([transform * c for c in corners])
