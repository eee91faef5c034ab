"""The executor's safety logic, with a scripted drone (the real client flies in test_fly)."""

import threading
import time

import numpy as np

from drone.executor import ExecConfig, execute


class _Reader:
    """A frame reader whose decoder thread lives (new frames) or has died (none)."""

    def __init__(self, alive: bool):
        self.frame = np.full((72, 96, 3), 120, np.uint8)
        self.closed = False
        self.container = self
        self.worker = threading.Thread(target=self._run if alive else (lambda: None),
                                       daemon=True)
        self.stopped = False
        self.worker.start()

    def _run(self):
        while not self.stopped:
            self.frame = np.full((72, 96, 3), 120, np.uint8)
            time.sleep(0.02)

    def close(self):
        self.closed = True


class _Drone:
    def __init__(self, dead_readers: int):
        self.dead, self.readers, self.sent = dead_readers, [], []

    def connect(self, wait_for_state=True): pass
    def get_battery(self): return 90
    def get_temperature(self): return 40.0
    def get_height(self): return 900
    def get_distance_tof(self): return 900
    def get_yaw(self): return 0
    def get_pitch(self): return 0
    def get_roll(self): return 0
    def streamon(self): self.sent.append("streamon")
    def land(self): self.sent.append("land")
    def emergency(self): self.sent.append("emergency")

    def streamoff(self):
        self.sent.append("streamoff")
        for r in self.readers:
            r.stopped = True

    def get_frame_read(self):
        self.readers.append(_Reader(alive=len(self.readers) >= self.dead))
        return self.readers[-1]

    def send_control_command(self, command, timeout=7):
        self.sent.append(command)
        return True


MISSION = {"index": 0, "drone": "tello", "crs": "EPSG:4549", "altitude_m": 9.0,
           "battery_pct": 20, "takeoff": {"x": 0.0, "y": 0.0, "heading_deg": 0.0},
           "waypoints": [{"x": 0.0, "y": 3.0, "alt_m": 9.0}]}


def test_a_dead_video_decoder_is_restarted_before_take_off(tmp_path):
    drone = _Drone(dead_readers=1)
    log = execute(MISSION, drone, tmp_path, ExecConfig(settle_s=0.3))
    assert log["status"] == "ok", log["reason"]
    assert drone.readers[0].closed and not drone.readers[1].closed
    sent = drone.sent
    assert sent.index("streamon") < sent.index("streamoff") < sent.index("takeoff")
    assert log["n_captures"] == 1


def test_no_take_off_without_video(tmp_path):
    drone = _Drone(dead_readers=99)
    log = execute(MISSION, drone, tmp_path, ExecConfig(settle_s=0.3))
    assert log["status"] == "aborted" and "no live video" in log["reason"]
    assert "takeoff" not in drone.sent and log["n_captures"] == 0
