"""Fly one mission of a plan with a Tello and keep every capture, whatever happens."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from drone.plan import PROFILES, TELLO, tello_moves


class TelloLike(Protocol):
    """The part of djitellopy's ``Tello`` interface the executor uses."""

    def connect(self, wait_for_state: bool = True) -> None: ...  # noqa: D102
    def get_battery(self) -> int: ...  # noqa: D102
    def get_temperature(self) -> float: ...  # noqa: D102
    def get_height(self) -> int: ...  # noqa: D102
    def get_distance_tof(self) -> int: ...  # noqa: D102
    def get_yaw(self) -> int: ...  # noqa: D102
    def get_pitch(self) -> int: ...  # noqa: D102
    def get_roll(self) -> int: ...  # noqa: D102
    def streamon(self) -> None: ...  # noqa: D102
    def streamoff(self) -> None: ...  # noqa: D102
    def get_frame_read(self) -> Any: ...  # noqa: D102
    def send_control_command(self, command: str, timeout: int = 7) -> bool: ...  # noqa: D102
    def land(self) -> None: ...  # noqa: D102
    def emergency(self) -> None: ...  # noqa: D102


@dataclass(frozen=True)
class ExecConfig:
    """Safety limits of a flight.

    Attributes:
        min_battery_pct: land as soon as the battery falls below this.
        battery_margin_pct: the pre-flight battery must exceed the mission's estimate by this.
        max_temperature_c: refuse to take off hotter than this.
        keepalive_s: send a keep-alive after this long without a command (a Tello lands by
            itself after 15 s without one).
        settle_s: hover before each photo so the frame shows the capture point (the video
            reaches the ground station with some latency).
        command_timeout_s: how long to wait for each reply (djitellopy retries on timeout).

    """

    min_battery_pct: int = 15
    battery_margin_pct: int = 10
    max_temperature_c: float = 80.0
    keepalive_s: float = 8.0
    settle_s: float = 1.5
    command_timeout_s: int = 7


class FlightAborted(Exception):
    """A mission stopped early; the reason is in the message and the flight log."""


def _state(tello: TelloLike) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, fn in (("h", tello.get_height), ("tof", tello.get_distance_tof),
                    ("yaw", tello.get_yaw), ("pitch", tello.get_pitch),
                    ("roll", tello.get_roll), ("bat", tello.get_battery)):
        try:
            out[key] = fn()
        except Exception:  # noqa: BLE001 - telemetry is best effort; the log says it's missing
            out[key] = None
    return out


def execute(mission: dict[str, Any], tello: TelloLike, out_dir: Path | str,
            config: ExecConfig | None = None) -> dict[str, Any]:
    """Fly one mission of a plan with ``tello`` and return the flight log.

    Pre-flight checks (battery against the mission's estimate, temperature), take-off, the
    planned SDK steps, a photo with a pose sidecar at every capture point, keep-alives, and a
    landing. On a timeout, lost link, low battery or any exception the drone is landed
    (emergency stop as the last resort) and the log records what was captured; every photo is
    written the moment it is taken, so nothing captured is lost. ``tello`` is used as given:
    nothing here constructs a ``Tello``.
    """
    cfg = config or ExecConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    drone = PROFILES.get(mission.get("drone", "tello"), TELLO)
    home = (float(mission["takeoff"]["x"]), float(mission["takeoff"]["y"]))
    heading = float(mission["takeoff"].get("heading_deg", 0.0))
    wps = [(float(w["x"]), float(w["y"])) for w in mission["waypoints"]]
    moves = tello_moves(home, wps, float(mission["altitude_m"]), drone, heading)
    log: dict[str, Any] = {"mission": mission.get("index"), "started": _now(), "status": "ok",
                           "reason": None, "captures": [], "events": [],
                           "config": asdict(cfg)}
    flying = False
    last_cmd = time.monotonic()

    def event(kind: str, **kw: Any) -> None:
        log["events"].append({"t": _now(), "event": kind, **kw})

    try:
        tello.connect()
        bat = tello.get_battery()
        temp = tello.get_temperature()
        event("preflight", battery=bat, temperature=temp)
        need = float(mission.get("battery_pct", 0)) + cfg.battery_margin_pct
        if bat < need:
            raise FlightAborted(f"battery {bat}% below the {need:.0f}% this mission needs")
        if temp > cfg.max_temperature_c:
            raise FlightAborted(f"temperature {temp:.0f} °C above {cfg.max_temperature_c} °C")
        frames = _start_video(tello, cfg.settle_s)
        event("video", ok=True)
        for move in moves:
            if move.command == "command":
                continue
            if move.command == "takeoff":
                tello.send_control_command("takeoff", timeout=20)
                flying = True
            elif move.command == "land":
                break
            else:
                tello.send_control_command(move.command, timeout=cfg.command_timeout_s)
            last_cmd = time.monotonic()
            event("command", command=move.command)
            if flying:
                bat = tello.get_battery()
                if bat < cfg.min_battery_pct:
                    raise FlightAborted(f"battery low ({bat}%) mid-mission")
            if move.capture is not None:
                _wait_fresh_frames(frames, cfg.settle_s)
                if time.monotonic() - last_cmd > cfg.keepalive_s:
                    tello.send_control_command("keepalive", timeout=cfg.command_timeout_s)
                    last_cmd = time.monotonic()
                _capture(frames, tello, mission, move.capture, out, log)
    except Exception as exc:  # noqa: BLE001 - any failure must end with the drone down
        log["status"] = "aborted"
        log["reason"] = f"{type(exc).__name__}: {exc}"
        event("abort", reason=log["reason"])
    finally:
        if flying:
            try:
                tello.send_control_command("land", timeout=max(cfg.command_timeout_s, 5))
                event("landed")
            except Exception as exc:  # noqa: BLE001
                event("land_failed", reason=str(exc))
                try:
                    tello.emergency()
                    event("emergency_stop")
                except Exception as exc2:  # noqa: BLE001
                    event("emergency_failed", reason=str(exc2))
        try:
            tello.streamoff()
        except Exception:  # noqa: BLE001 - the stream may already be gone with the link
            pass
        log["finished"] = _now()
        log["n_captures"] = len(log["captures"])
        (out / f"flight_log_mission_{mission.get('index', 0)}.json").write_text(
            json.dumps(log, indent=2), encoding="utf-8")
    return log


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _video_alive(frames: Any) -> bool:
    worker = getattr(frames, "worker", None)  # djitellopy's decoder thread, where it has one
    return worker is None or worker.is_alive()


def _start_video(tello: TelloLike, settle_s: float, tries: int = 3) -> Any:
    """Turn the stream on and see it decode before take-off (restarting it if it died).

    PyAV's decoder thread in djitellopy ends for good on a read error while it starts; a
    drone must not take off without a picture.

    Raises:
        FlightAborted: no live video after ``tries`` starts.

    """
    for attempt in range(tries):
        tello.streamon()
        frames = tello.get_frame_read()
        try:
            _wait_fresh_frames(frames, settle_s / 3)
            if _video_alive(frames):
                return frames
        except FlightAborted:
            pass
        if attempt < tries - 1:
            container = getattr(frames, "container", None)
            if not _video_alive(frames) and container is not None:
                container.close()  # a dead reader still holds the video port
            tello.streamoff()  # djitellopy drops its frame reader; the next one starts afresh
    raise FlightAborted(f"no live video from the drone after {tries} starts")


def _wait_fresh_frames(frames: Any, settle_s: float, n: int = 3) -> None:
    """Hover ``settle_s``, and until ``n`` new frames have been decoded since arriving.

    The stream lags the drone; frames decoded after arrival show the capture point.

    Raises:
        FlightAborted: no new frame within four times ``settle_s`` (the video stalled: a
            photo now would show an old place under a new pose).

    """
    t0 = time.monotonic()
    seen = 0
    last = getattr(frames, "frame", None)  # held, so a new frame is a new object
    while time.monotonic() - t0 < 4 * settle_s:
        if not _video_alive(frames):
            break
        time.sleep(0.05)
        cur = getattr(frames, "frame", None)
        if cur is not last:
            seen, last = seen + 1, cur
        if seen >= n and time.monotonic() - t0 >= settle_s:
            return
    if seen == 0:
        raise FlightAborted("video stream stalled: no new frame at the capture point")


def _capture(frames: Any, tello: TelloLike, mission: dict[str, Any], idx: int, out: Path,
             log: dict[str, Any]) -> None:
    frame = frames.frame
    for _ in range(30):  # djitellopy shows a black frame until the decoder has a picture
        if isinstance(frame, np.ndarray) and frame.size and frame.any():
            break
        time.sleep(0.1)
        frame = frames.frame
    else:
        raise FlightAborted(f"no video frame at capture point {idx}")
    state = _state(tello)
    wp = mission["waypoints"][idx]
    name = f"tello_m{mission.get('index', 0)}_{idx:04d}"
    cv2.imwrite(str(out / f"{name}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 92])
    sidecar = {
        "format": "skypatrol-tello-capture/1", "image": f"{name}.jpg",
        "camera": mission.get("camera", "tello-downward"), "crs": mission["crs"],
        "planned": {"x": wp["x"], "y": wp["y"], "lon": wp.get("lon"), "lat": wp.get("lat"),
                    "height_cm": round(float(wp["alt_m"]) * 100)},
        "state": state, "takeoff_heading_deg": mission["takeoff"].get("heading_deg", 0.0),
        "mission": mission.get("index"), "waypoint": idx, "captured_at": _now(),
    }
    (out / f"{name}.json").write_text(json.dumps(sidecar, indent=2), encoding="utf-8")
    log["captures"].append({"image": f"{name}.jpg", "waypoint": idx, "state": state})
