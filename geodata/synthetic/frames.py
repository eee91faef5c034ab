"""Drone photos of the synthetic world: DJI JPEGs with EXIF/XMP pose, and Tello captures."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import piexif
from pyproj import Transformer

from geodata.camera import (
    PHANTOM4PRO,
    TELLO_DOWNWARD,
    CameraModel,
    Pose,
    footprint,
    ground_to_image,
    nadir_gsd_m,
)
from geodata.synthetic.kinds import WorldRenderer

#: Ground elevation of the synthetic district above sea level (Wuxi lies a few metres up).
GROUND_ASL_M = 4.5
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
MAX_PATCH_PX = 9000


def render_frame(renderer: WorldRenderer, camera: CameraModel, pose: Pose) -> np.ndarray:
    """What ``camera`` at ``pose`` sees of a flat world: an RGB uint8 (HWC) image.

    The world is rendered as an orthophoto patch under the frame at the frame's nadir GSD,
    then warped by the ground-to-image homography (buildings have no relief displacement).
    """
    fp = footprint(camera, pose)
    gsd = nadir_gsd_m(camera, pose.altitude_m)
    x0, y0, x1, y1 = fp.bounds
    span = max(x1 - x0, y1 - y0)
    gsd = max(gsd, span / MAX_PATCH_PX)
    pw, ph = int(math.ceil((x1 - x0) / gsd)) + 2, int(math.ceil((y1 - y0) / gsd)) + 2
    left, top = x0 - gsd, y1 + gsd
    patch = renderer.render(left, top, gsd, pw, ph)
    H = ground_to_image(camera, pose)
    # patch pixel (edge) = A @ world ; world = H^-1 @ image (edge); index = edge - 0.5
    A = np.array([[1 / gsd, 0, -left / gsd], [0, -1 / gsd, top / gsd], [0, 0, 1.0]])
    S = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    S_inv = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1.0]])
    dst_to_src = S_inv @ A @ np.linalg.inv(H) @ S
    img = cv2.warpPerspective(
        patch,
        dst_to_src,
        (camera.width, camera.height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )
    return _vignette(img)


def _vignette(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    gain = 1.0 - 0.12 * r2 / 2
    return np.clip(img * gain[:, :, None], 0, 255).astype(np.uint8)


def _dms(value: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    s = (value - d - m / 60) * 3600
    return ((d, 1), (m, 1), (int(round(s * 10000)), 10000))


def dji_xmp(fields: dict[str, Any]) -> bytes:
    """A DJI-style XMP packet with ``drone-dji:`` attributes."""
    attrs = " ".join(f'drone-dji:{k}="{v}"' for k, v in fields.items())
    xml = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="DJI Meta Data" '
        'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
        f"{attrs}/></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )
    return xml.encode("utf-8")


def insert_app1(jpeg: bytes, payload: bytes) -> bytes:
    """Insert an APP1 segment right after the JPEG's existing APP segments' start."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    pos = 2
    # keep EXIF (APP1) and JFIF (APP0) first
    while jpeg[pos] == 0xFF and jpeg[pos + 1] in (0xE0, 0xE1):
        seg_len = int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        pos += 2 + seg_len
    seg = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:pos] + seg + jpeg[pos:]


def write_dji_jpeg(
    path: Path,
    rgb: np.ndarray,
    camera: CameraModel,
    pose: Pose,
    lonlat: tuple[float, float] | None,
    when: dt.datetime,
    quality: int = 92,
    native: CameraModel = PHANTOM4PRO,
) -> None:
    """Write a JPEG that carries its pose the way a Phantom 4 Pro photo does.

    EXIF has GPS (altitude above sea level) and the lens; XMP ``drone-dji:`` has the
    relative altitude, gimbal and flight attitude and the calibrated focal length in pixels of
    the *native* sensor size (a resized photo keeps it: readers must scale it).
    ``lonlat=None`` writes a photo without GPS, as some DJI photos are.
    """
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {path}")
    stamp = when.strftime("%Y:%m:%d %H:%M:%S")
    zeroth = {
        piexif.ImageIFD.Make: b"DJI",
        piexif.ImageIFD.Model: native.name.encode(),
        piexif.ImageIFD.Orientation: 1,
        piexif.ImageIFD.DateTime: stamp.encode(),
    }
    exif = {
        piexif.ExifIFD.DateTimeOriginal: stamp.encode(),
        piexif.ExifIFD.FocalLength: (int(round(native.focal_mm * 100)), 100),
        piexif.ExifIFD.FocalLengthIn35mmFilm: 24,
        piexif.ExifIFD.PixelXDimension: camera.width,
        piexif.ExifIFD.PixelYDimension: camera.height,
    }
    gps: dict[int, Any] = {}
    abs_alt = GROUND_ASL_M + pose.altitude_m
    if lonlat is not None:
        lon, lat = lonlat
        gps = {
            piexif.GPSIFD.GPSVersionID: (2, 3, 0, 0),
            piexif.GPSIFD.GPSLatitudeRef: b"N" if lat >= 0 else b"S",
            piexif.GPSIFD.GPSLatitude: _dms(lat),
            piexif.GPSIFD.GPSLongitudeRef: b"E" if lon >= 0 else b"W",
            piexif.GPSIFD.GPSLongitude: _dms(lon),
            piexif.GPSIFD.GPSAltitudeRef: 0,
            piexif.GPSIFD.GPSAltitude: (int(round(abs_alt * 1000)), 1000),
        }
    sink = io.BytesIO()
    piexif.insert(piexif.dump({"0th": zeroth, "Exif": exif, "GPS": gps}), buf.tobytes(), sink)
    data = sink.getvalue()
    xmp: dict[str, Any] = {
        "AbsoluteAltitude": f"{abs_alt:+.2f}",
        "RelativeAltitude": f"{pose.altitude_m:+.2f}",
        "GimbalRollDegree": f"{pose.roll_deg:+.2f}",
        "GimbalYawDegree": f"{_signed(pose.yaw_deg):+.2f}",
        "GimbalPitchDegree": f"{pose.pitch_deg:+.2f}",
        "FlightRollDegree": "+0.00",
        "FlightYawDegree": f"{_signed(pose.yaw_deg):+.2f}",
        "FlightPitchDegree": "+0.00",
        "CalibratedFocalLength": f"{native.focal_px:.6f}",
        "CalibratedOpticalCenterX": f"{native.cx:.6f}",
        "CalibratedOpticalCenterY": f"{native.cy:.6f}",
    }
    if lonlat is not None:
        xmp["GpsLatitude"] = f"{lonlat[1]:.9f}"
        xmp["GpsLongtitude"] = f"{lonlat[0]:.9f}"  # sic: DJI's spelling
    path.write_bytes(insert_app1(data, XMP_HEADER + dji_xmp(xmp)))


def _signed(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def write_frames(
    renderer: WorldRenderer,
    out_dir: Path,
    crs: str,
    date: dt.date,
    targets: list[tuple[float, float]],
    seed: int,
    n_dji: int = 6,
    n_tello: int = 2,
    frame_width: int = 1368,
) -> list[dict[str, Any]]:
    """Render drone photos over the given target points and write them with their poses.

    Returns one truth record per frame: file, camera, pose and ground footprint corners.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 4242, date.toordinal()])
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    cam = PHANTOM4PRO.scaled(frame_width)
    records: list[dict[str, Any]] = []
    t0 = dt.datetime.combine(date, dt.time(10, 0))
    for k in range(n_dji):
        tx, ty = targets[k % len(targets)]
        alt = float(rng.uniform(30, 60))
        oblique = k >= n_dji - max(1, n_dji // 3)
        pitch = -90.0 + (float(rng.uniform(15, 30)) if oblique else abs(float(rng.normal(0, 1.0))))
        yaw = float(rng.uniform(-180, 180))
        # for obliques, stand back so the target stays in view
        back = alt * math.tan(math.radians(90 + pitch)) if oblique else 0.0
        cx = tx - back * math.sin(math.radians(yaw)) + float(rng.normal(0, 3))
        cy = ty - back * math.cos(math.radians(yaw)) + float(rng.normal(0, 3))
        pose = Pose(cx, cy, alt, yaw, pitch, float(rng.normal(0, 0.5)))
        img = render_frame(renderer, cam, pose)
        lon, lat = to_ll.transform(cx, cy)
        name = f"DJI_{k + 1:04d}.JPG"
        write_dji_jpeg(out_dir / name, img, cam, pose, (lon, lat),
                       t0 + dt.timedelta(seconds=7 * k))
        records.append(_record(name, cam, pose))
    tello = TELLO_DOWNWARD
    for k in range(n_tello):
        tx, ty = targets[(k + n_dji) % len(targets)]
        height_cm = int(rng.integers(800, 1400))
        yaw = float(rng.uniform(-180, 180))
        pose = Pose(tx + float(rng.normal(0, 1)), ty + float(rng.normal(0, 1)), height_cm / 100,
                    yaw, -90.0, 0.0)
        img = render_frame(renderer, tello, pose)
        name = f"tello_{k + 1:04d}.jpg"
        cv2.imwrite(str(out_dir / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 85])
        lon, lat = to_ll.transform(pose.x, pose.y)
        sidecar = {
            "format": "skypatrol-tello-capture/1",
            "image": name,
            "camera": tello.name,
            "crs": crs,
            "planned": {"x": pose.x, "y": pose.y, "lon": lon, "lat": lat,
                        "height_cm": height_cm},
            "state": {"h": height_cm, "tof": height_cm + 10, "yaw": round(_signed(yaw), 1),
                      "pitch": 0, "roll": 0, "bat": 80},
            "takeoff_heading_deg": 0.0,
            "captured_at": (t0 + dt.timedelta(minutes=20, seconds=5 * k)).isoformat(),
        }
        (out_dir / f"tello_{k + 1:04d}.json").write_text(json.dumps(sidecar, indent=2),
            encoding="utf-8")
        records.append(_record(name, tello, pose))
    return records


def _record(name: str, cam: CameraModel, pose: Pose) -> dict[str, Any]:
    fp = footprint(cam, pose)
    return {
        "file": name,
        "camera": asdict(cam),
        "pose": asdict(pose),
        "footprint": [list(c) for c in fp.exterior.coords[:4]],
    }
