"""Pinhole cameras and poses: the ground-plane homography behind every georeferenced photo."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from shapely.geometry import Polygon


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera; pixel coordinates are continuous with (0, 0) at the top-left *edge*.

    Attributes:
        name: profile name (also the EXIF model for DJI cameras).
        width, height: image size in pixels.
        focal_px: focal length in pixels at this image size.
        cx, cy: principal point in pixels (edge convention).
        focal_mm, sensor_width_mm: physical values where known (EXIF), else 0.
        mount_pitch_deg: fixed camera tilt on the airframe (-90 looks straight down); only
            meaningful for cameras without a gimbal (the Tello).

    """

    name: str
    width: int
    height: int
    focal_px: float
    cx: float
    cy: float
    focal_mm: float = 0.0
    sensor_width_mm: float = 0.0
    mount_pitch_deg: float = -90.0

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.focal_px <= 0:
            raise ValueError(f"camera {self.name}: size and focal length must be positive")

    def scaled(self, width: int) -> CameraModel:
        """The same camera for an image resized to ``width`` pixels (focal length scales too)."""
        k = width / self.width
        return replace(
            self,
            width=width,
            height=int(round(self.height * k)),
            focal_px=self.focal_px * k,
            cx=self.cx * k,
            cy=self.cy * k,
        )

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the standard name of the intrinsic matrix
        """3x3 intrinsic matrix (edge-convention pixels)."""
        return np.array([[self.focal_px, 0, self.cx], [0, self.focal_px, self.cy], [0, 0, 1.0]])


def _camera(name: str, w: int, h: int, f_px: float, **kw: float) -> CameraModel:
    return CameraModel(name, w, h, f_px, w / 2, h / 2, **kw)


#: DJI Phantom 4 Pro (FC6310): 1" sensor 13.2 mm wide, 8.8 mm lens, 5472 x 3648.
PHANTOM4PRO = _camera("FC6310", 5472, 3648, 8.8 / 13.2 * 5472, focal_mm=8.8, sensor_width_mm=13.2)
#: Tello forward camera as streamed (960 x 720, 82.6 degrees diagonal), level with the airframe.
TELLO_FORWARD = _camera(
    "tello-forward", 960, 720, 600 / math.tan(math.radians(82.6 / 2)), mount_pitch_deg=0.0
)
#: Tello downward (vision-positioning) camera as streamed after ``downvision 1``: 320 x 240,
#: about 60 degrees horizontal field of view, looking straight down.
TELLO_DOWNWARD = _camera(
    "tello-downward", 320, 240, 160 / math.tan(math.radians(30.0)), mount_pitch_deg=-90.0
)
CAMERAS = {c.name: c for c in (PHANTOM4PRO, TELLO_FORWARD, TELLO_DOWNWARD)}


@dataclass(frozen=True)
class Pose:
    """Where a camera is and where it looks, in a projected CRS (metres).

    Attributes:
        x, y: camera position (easting, northing).
        altitude_m: height above the ground plane.
        yaw_deg: heading of the image's top edge, clockwise from grid north.
        pitch_deg: gimbal pitch, 0 = horizontal, -90 = straight down (DJI convention).
        roll_deg: roll about the optical axis, positive clockwise as seen from behind.

    """

    x: float
    y: float
    altitude_m: float
    yaw_deg: float = 0.0
    pitch_deg: float = -90.0
    roll_deg: float = 0.0

    def __post_init__(self) -> None:
        if not self.altitude_m > 0:
            raise ValueError(f"altitude_m must be positive, got {self.altitude_m}")
        if not -90.0 <= self.pitch_deg <= 30.0:
            raise ValueError(f"pitch_deg must be within -90..30, got {self.pitch_deg}")


def rotation(pose: Pose) -> np.ndarray:
    """3x3 matrix whose columns are the camera's x (right), y (down), z (forward) in world ENU."""
    p = math.radians(pose.pitch_deg)
    # level camera looking north, then pitched about its x axis
    x = np.array([1.0, 0.0, 0.0])
    z = np.array([0.0, math.cos(p), math.sin(p)])
    y = np.cross(z, x)
    r = math.radians(pose.roll_deg)
    x, y = x * math.cos(r) + y * math.sin(r), -x * math.sin(r) + y * math.cos(r)
    a = math.radians(pose.yaw_deg)
    yaw = np.array([[math.cos(a), math.sin(a), 0], [-math.sin(a), math.cos(a), 0], [0, 0, 1]])
    return yaw @ np.column_stack([x, y, z])


def ground_to_image(camera: CameraModel, pose: Pose) -> np.ndarray:
    """Homography from ground (x, y, 1) in the CRS to image pixels (edge convention)."""
    R = rotation(pose)
    C = np.array([pose.x, pose.y, pose.altitude_m])
    M = R.T @ np.column_stack([[1.0, 0, 0], [0, 1.0, 0], -C])
    H = camera.K @ M
    return H / H[2, 2]


def image_to_ground(camera: CameraModel, pose: Pose, uv: np.ndarray) -> np.ndarray:
    """Project pixel coordinates (N, 2) onto the ground plane; returns (N, 2) world x, y.

    Raises:
        ValueError: a pixel's ray does not hit the ground (at or above the horizon).

    """
    R = rotation(pose)
    uv = np.atleast_2d(np.asarray(uv, dtype=float))
    rays_cam = np.column_stack(
        [(uv[:, 0] - camera.cx) / camera.focal_px, (uv[:, 1] - camera.cy) / camera.focal_px,
         np.ones(len(uv))]
    )
    rays = rays_cam @ R.T
    if np.any(rays[:, 2] >= -1e-6):
        raise ValueError("a pixel's ray does not reach the ground (it looks at the horizon)")
    t = -pose.altitude_m / rays[:, 2]
    return np.column_stack([pose.x + t * rays[:, 0], pose.y + t * rays[:, 1]])


def footprint(camera: CameraModel, pose: Pose) -> Polygon:
    """Ground polygon seen by the whole image (its four corners projected)."""
    corners = np.array([[0, 0], [camera.width, 0], [camera.width, camera.height],
                        [0, camera.height]], dtype=float)
    return Polygon(image_to_ground(camera, pose, corners))


def nadir_gsd_m(camera: CameraModel, altitude_m: float) -> float:
    """Ground sample distance straight below the camera, metres per pixel."""
    return altitude_m / camera.focal_px
