"""Benchmark plumbing: run a measurement in a child process, report wall time and peak RSS."""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil


def cpu_model() -> str:
    """The processor's model name (a VM's host changes between days; its speed with it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    return {
        "cpu": cpu_model(),
        "cores": psutil.cpu_count(logical=True),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(psutil.getloadavg()[0], 2),
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(module: str, *args: str) -> dict[str, Any]:
    """Run ``python -m module --child args``; it prints one JSON line with its results."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", module, "--child", *args],
                          capture_output=True, text=True)
    if proc.returncode:  # the child's own error, not only its exit status
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"python -m {module} --child {' '.join(args)} failed "
                           f"(exit status {proc.returncode}):\n{tail}")
    wall = time.perf_counter() - t0
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result.setdefault("wall_s", round(wall, 2))
    return result
