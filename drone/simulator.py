"""A Tello simulator that speaks the Tello SDK over UDP, for the real djitellopy client.

Control commands on UDP 8889 (replies to the sender), state packets at about 10 Hz to the
client's port 8890, and the camera's view of a synthetic world as an H.264 stream to the
client's port 11111. Fault injection: dropped replies, battery drain, link loss.

Run it where it can own the Tello's address, e.g. in a network namespace holding
192.168.10.1: ``ip netns exec NS python -m drone.simulator --world DIR ...``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

CONTROL_PORT, STATE_PORT, VIDEO_PORT = 8889, 8890, 11111


@dataclass
class Faults:
    """Faults to inject.

    Attributes:
        drop_replies: probability that a command's reply is lost.
        battery_start: battery percentage at power-on.
        drain_per_s: battery percent drained per simulated second of flight.
        link_loss_after_s: the link dies this many seconds after take-off (None: never).

    """

    drop_replies: float = 0.0
    battery_start: int = 95
    drain_per_s: float = 0.13
    link_loss_after_s: float | None = None


@dataclass
class DroneState:
    """The simulated airframe (world metres, heading clockwise from north)."""

    x: float
    y: float
    heading0: float
    h_cm: float = 0.0
    yaw: float = 0.0
    battery: float = 95.0
    flying: bool = False
    downvision: bool = False
    stream: bool = False
    t0: float = field(default_factory=time.monotonic)
    takeoff_t: float | None = None
    last_cmd_t: float = field(default_factory=time.monotonic)
    log: list[dict[str, Any]] = field(default_factory=list)


class TelloSimulator:
    """The simulator: one control loop, a state sender and a video sender thread."""

    def __init__(self, world: Path | None, epoch: int, takeoff: tuple[float, float],
                 heading: float = 0.0, faults: Faults | None = None, time_scale: float = 1.0,
                 bind: str = "0.0.0.0", state_log: Path | None = None,
                 auto_land_s: float = 15.0, fps: int = 30):
        self.fps = fps
        self._view: tuple[tuple[float, ...], np.ndarray] | None = None
        self.faults = faults or Faults()
        self.state = DroneState(takeoff[0], takeoff[1], heading,
                                battery=float(self.faults.battery_start))
        self.time_scale = time_scale
        self.bind = bind
        self.client: str | None = None
        self.video_port = VIDEO_PORT
        self.state_log = state_log
        self.auto_land_s = auto_land_s
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.renderer = None
        if world is not None:
            from geodata.synthetic import WorldConfig, build_scene
            from geodata.synthetic.render import Renderer, random_style

            cfg = WorldConfig(**json.loads(
                (world / "world.json").read_text(encoding="utf-8"))["config"])
            self.renderer = Renderer(build_scene(cfg), epoch, random_style(cfg.seed, epoch))
        self.rng = random.Random(7)

    # ---- helpers -------------------------------------------------------------------------
    def link_alive(self) -> bool:
        """False once the injected link loss has struck."""
        s, f = self.state, self.faults
        return not (f.link_loss_after_s is not None and s.takeoff_t is not None
                    and time.monotonic() - s.takeoff_t > f.link_loss_after_s)

    def _record(self, event: str) -> None:
        s = self.state
        s.log.append({"t": round(time.monotonic() - s.t0, 3), "event": event, "x": s.x,
                      "y": s.y, "h_cm": s.h_cm, "yaw": s.yaw, "battery": round(s.battery, 1),
                      "flying": s.flying})
        if self.state_log is not None:
            self.state_log.write_text(json.dumps({"final": s.log[-1], "log": s.log}),
                encoding="utf-8")

    def _fly(self, seconds: float) -> None:
        """Let simulated time pass (scaled), draining the battery."""
        time.sleep(max(0.0, seconds * self.time_scale))
        with self.lock:
            self.state.battery = max(0.0, self.state.battery - self.faults.drain_per_s * seconds)
            if self.state.battery <= 3 and self.state.flying:  # the Tello lands itself
                self.state.flying, self.state.h_cm = False, 0.0
                self._record("forced_landing_battery")

    def _move_body(self, fwd_cm: float, left_cm: float, up_cm: float, speed: float) -> None:
        s = self.state
        h = math.radians(s.heading0 + s.yaw)
        de = (fwd_cm * math.sin(h) - left_cm * math.cos(h)) / 100
        dn = (fwd_cm * math.cos(h) + left_cm * math.sin(h)) / 100
        dist = math.sqrt(fwd_cm**2 + left_cm**2 + up_cm**2) / 100
        steps = max(1, int(dist / 0.5))
        for _ in range(steps):
            self._fly(dist / (speed / 100) / steps)
            with self.lock:
                s.x += de / steps
                s.y += dn / steps
                s.h_cm = max(0.0, s.h_cm + up_cm / steps)

    # ---- control -------------------------------------------------------------------------
    def handle(self, cmd: str) -> str | None:
        """Execute one SDK command; returns the reply (None: no reply is sent)."""
        s = self.state
        parts = cmd.strip().split()
        if not parts:
            return "error"
        op, args = parts[0], parts[1:]
        s.last_cmd_t = time.monotonic()
        if op == "command" or op == "keepalive":
            return "ok"
        if op.endswith("?"):
            return {"battery?": str(int(s.battery)), "height?": f"{int(s.h_cm)}dm",
                    "temp?": "60~63C", "speed?": "100.0", "time?": "0s",
                    "sn?": "0TQZSIMULATOR", "sdk?": "20"}.get(op, "error")
        if op == "emergency":
            s.flying, s.h_cm = False, 0.0
            self._record("emergency")
            return None
        if op == "port" and len(args) == 2 and all(a.isdigit() for a in args):
            self.video_port = int(args[1])  # Tello EDU: "port <state> <video>"
            return "ok"
        if op in ("streamon", "streamoff"):
            s.stream = op == "streamon"
            return "ok"
        if op == "downvision":
            s.downvision = bool(args and args[0] == "1")
            return "ok"
        if op == "takeoff":
            if s.battery < 10:
                return "error No valid imu"
            self._fly(2.0)
            s.flying, s.h_cm = True, 80.0
            s.takeoff_t = time.monotonic()
            self._record("takeoff")
            return "ok"
        if op == "land":
            if s.flying:
                self._fly(s.h_cm / 100 / 0.6)
            s.flying, s.h_cm = False, 0.0
            self._record("land")
            return "ok"
        if not s.flying:
            return "error Not flying"
        try:
            nums = [int(v) for v in args]
        except ValueError:
            return "error"
        if op in ("up", "down", "forward", "back", "left", "right"):
            if len(nums) != 1 or not 20 <= nums[0] <= 500:
                return "out of range"
            n = nums[0]
            vec = {"up": (0, 0, n), "down": (0, 0, -n), "forward": (n, 0, 0),
                   "back": (-n, 0, 0), "left": (0, n, 0), "right": (0, -n, 0)}[op]
            self._move_body(*vec, speed=100)
            self._record(op)
            return "ok"
        if op == "go":
            if len(nums) != 4 or any(abs(v) > 500 for v in nums[:3]) or not (
                10 <= nums[3] <= 100
            ) or max(abs(v) for v in nums[:3]) < 20:
                return "out of range"
            self._move_body(nums[0], nums[1], nums[2], nums[3])
            self._record("go")
            return "ok"
        if op in ("cw", "ccw"):
            if len(nums) != 1 or not 1 <= nums[0] <= 360:
                return "out of range"
            s.yaw = (s.yaw + (nums[0] if op == "cw" else -nums[0]) + 180) % 360 - 180
            self._fly(nums[0] / 90)
            return "ok"
        return f"unknown command: {op}"

    def control_loop(self, sock: socket.socket) -> None:
        """Answer SDK commands (replies may be dropped, and stop with the link)."""
        while not self.stop.is_set():
            try:
                data, addr = sock.recvfrom(1024)
            except TimeoutError:
                continue
            except OSError:
                break
            self.client = addr[0]
            if not self.link_alive():
                continue
            reply = self.handle(data.decode("utf-8", "replace"))
            if reply is None or self.rng.random() < self.faults.drop_replies:
                continue
            if self.link_alive():
                sock.sendto(reply.encode(), addr)

    # ---- telemetry -----------------------------------------------------------------------
    def state_packet(self) -> bytes:
        """One state packet in the Tello's ``key:value;`` format."""
        s = self.state
        t = int(time.monotonic() - s.takeoff_t) if s.takeoff_t and s.flying else 0
        text = (f"mid:-1;x:0;y:0;z:0;mpry:0,0,0;pitch:0;roll:0;yaw:{int(round(s.yaw))};"
                f"vgx:0;vgy:0;vgz:0;templ:60;temph:63;tof:{int(s.h_cm) + 10};h:{int(s.h_cm)};"
                f"bat:{int(s.battery)};baro:{s.h_cm / 100:.2f};time:{t};"
                "agx:0.00;agy:0.00;agz:-1000.00;\r\n")
        return text.encode()

    def state_loop(self, sock: socket.socket) -> None:
        """Send state at about 10 Hz; land by itself after ``auto_land_s`` without commands."""
        while not self.stop.is_set():
            if self.client and self.link_alive():
                sock.sendto(self.state_packet(), (self.client, STATE_PORT))
            with self.lock:
                idle = time.monotonic() - self.state.last_cmd_t
                if self.state.flying and idle > self.auto_land_s:
                    self.state.flying, self.state.h_cm = False, 0.0
                    self._record("auto_land_no_command")
            time.sleep(0.1)

    def frame(self) -> np.ndarray:
        """What the active camera sees now (RGB), always streamed at 960 x 720.

        Like the Tello, the stream keeps one size: the downward camera's 320 x 240 picture is
        scaled up (a decoder that locked onto the first size keeps decoding).
        """
        import cv2

        from geodata.camera import TELLO_DOWNWARD, TELLO_FORWARD, Pose

        s = self.state
        size = (TELLO_FORWARD.width, TELLO_FORWARD.height)
        if self.renderer is None or s.h_cm < 30 or not s.downvision:
            return np.full((size[1], size[0], 3), 150, np.uint8)
        from geodata.synthetic.frames import render_frame

        key = (s.x, s.y, s.h_cm, s.yaw)
        if self._view is None or self._view[0] != key:  # hovering: the same view
            pose = Pose(s.x, s.y, s.h_cm / 100, s.heading0 + s.yaw, -90.0)
            img = render_frame(self.renderer, TELLO_DOWNWARD, pose)
            self._view = key, cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
        return self._view[1]

    def video_loop(self, sock: socket.socket) -> None:
        """Stream the camera view as H.264 over UDP at ``fps`` while the stream is on.

        The rate matters to the client: djitellopy gives PyAV five seconds to probe the
        stream, and a raw H.264 stream is probed for about 125 frames.
        """
        import av

        fps = self.fps
        codec = None
        next_t = time.monotonic()
        while not self.stop.is_set():
            if not (self.state.stream and self.client and self.link_alive()):
                codec = None
                time.sleep(0.1)
                continue
            rgb = self.frame()
            if codec is None or (codec.width, codec.height) != (rgb.shape[1], rgb.shape[0]):
                codec = av.CodecContext.create("libx264", "w")
                codec.width, codec.height = rgb.shape[1], rgb.shape[0]
                codec.pix_fmt = "yuv420p"
                codec.time_base = Fraction(1, fps)
                codec.options = {"preset": "ultrafast", "tune": "zerolatency",
                                 "x264-params": "keyint=15:repeat-headers=1"}
                n = 0
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            vf.pts = n
            n += 1
            for pkt in codec.encode(vf):
                data = bytes(pkt)
                for i in range(0, len(data), 1400):
                    sock.sendto(data[i:i + 1400], (self.client, self.video_port))
            next_t = max(next_t + 1 / fps, time.monotonic() - 1 / fps)
            time.sleep(max(0.0, next_t - time.monotonic()))

    def serve(self) -> None:
        """Serve until stopped (Ctrl-C or :meth:`close`)."""
        ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ctl.bind((self.bind, CONTROL_PORT))
        ctl.settimeout(0.5)
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        vid = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        threads = [threading.Thread(target=self.state_loop, args=(out,), daemon=True),
                   threading.Thread(target=self.video_loop, args=(vid,), daemon=True)]
        for t in threads:
            t.start()
        self._record("power_on")
        try:
            self.control_loop(ctl)
        finally:
            self.stop.set()
            ctl.close()

    def close(self) -> None:
        """Stop serving."""
        self.stop.set()


def main() -> None:
    """``python -m drone.simulator --world DIR --takeoff X,Y [faults]``."""
    ap = argparse.ArgumentParser(prog="python -m drone.simulator")
    ap.add_argument("--world", type=Path, help="synthetic world folder (skypatrol synth)")
    ap.add_argument("--epoch", type=int, default=1)
    ap.add_argument("--takeoff", required=True, help="x,y of the take-off point (world CRS)")
    ap.add_argument("--heading", type=float, default=0.0)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--drop-replies", type=float, default=0.0)
    ap.add_argument("--battery", type=int, default=95)
    ap.add_argument("--drain-per-s", type=float, default=0.13)
    ap.add_argument("--link-loss-after-s", type=float)
    ap.add_argument("--auto-land-s", type=float, default=15.0)
    ap.add_argument("--state-log", type=Path)
    ap.add_argument("--fps", type=int, default=30, help="video frame rate (the Tello: 30)")
    a = ap.parse_args()
    x, y = (float(v) for v in a.takeoff.split(","))
    sim = TelloSimulator(a.world, a.epoch, (x, y), a.heading,
                         Faults(a.drop_replies, a.battery, a.drain_per_s, a.link_loss_after_s),
                         a.time_scale, a.bind, a.state_log, a.auto_land_s, a.fps)
    sim.serve()


if __name__ == "__main__":
    main()
