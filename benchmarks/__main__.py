"""``make bench``: run every benchmark and write JSON results under benchmarks/results/."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine

RESULTS = Path(__file__).parent / "results"


def run_child(args: list[str]) -> tuple[float, float]:
    """Run a command; return its wall time (s) and its peak RSS (MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kb < before:
        peak_kb = before
    return wall, peak_kb / 1024


def bench_synth(size_m: float = 500.0, gsd_cm: float = 5.0) -> dict[str, object]:
    """Synthetic world: one 500 m x 500 m district at 5 cm, two epochs with drone photos."""
    with tempfile.TemporaryDirectory() as tmp:
        wall, peak = run_child([sys.executable, "-m", "skypatrol.cli", "synth", "--out", tmp,
                                "--size-m", str(size_m), "--gsd-cm", str(gsd_cm), "--seed", "11"])
        px = int(size_m / (gsd_cm / 100)) ** 2
    return {
        "benchmark": "synth",
        "size_m": size_m,
        "gsd_cm": gsd_cm,
        "epochs": 2,
        "megapixels_per_epoch": round(px / 1e6, 1),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(peak, 0),
        "goal": "under 180 s and 2048 MB",
        "machine": machine(),
    }


def _lazy(name: str, **kw: object):  # type: ignore[no-untyped-def]
    def run() -> dict[str, object]:
        import importlib

        return importlib.import_module(f"benchmarks.{name}").run(**kw)  # type: ignore[no-any-return]

    return run


BENCHMARKS = {
    "synth": bench_synth,
    "infer": _lazy("bench_infer"),
    "georef": _lazy("bench_georef"),
    "detect": _lazy("bench_detect"),
    "survey": _lazy("bench_survey"),
    "real": _lazy("bench_real"),
    "quality": _lazy("bench_quality"),
    "cluster": _lazy("bench_cluster"),
    "web": _lazy("bench_web"),
    "learn": _lazy("bench_learn"),
    "crossworld": _lazy("bench_crossworld"),
    "real-checks": _lazy("bench_real_checks"),
    "learn-world": _lazy("bench_learn_world"),
}


def benchmark_names(argv: list[str] | None = None) -> list[str]:
    """The benchmarks named on the command line, all of them when none is named."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    # checked here: argparse (3.11) checks an empty or default list against ``choices`` as
    # one value and refuses it
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    if unknown := [n for n in args.names if n not in BENCHMARKS]:
        parser.error(f"unknown benchmark {', '.join(unknown)} (choose from "
                     f"{', '.join(BENCHMARKS)})")
    return list(args.names) or list(BENCHMARKS)


def main() -> None:
    """Run the named benchmarks (all by default) and print their results."""
    names = benchmark_names()
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        result = BENCHMARKS[name]()
        # a run with a non-default setting names its own file (e.g. learn-replay)
        stem = str(result.get("results_file") or name)
        target = RESULTS / f"{stem}.json"
        if result.get("skipped") and target.exists():
            # nothing measured here (no data): the figures measured where it was stay
            print(f"{name}: skipped ({result['skipped']}); kept {target}")
            continue
        target.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
