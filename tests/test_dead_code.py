"""No dead code: vulture finds nothing certain in the project, its tests and benchmarks."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Parameters that exist for a signature other code calls: djitellopy's Tello interface
#: (``wait_for_state``, ``timeout``), Prefect's cache-key function (``context``), and pytest
#: fixtures requested only for their effect (``prefect_harness``).
SIGNATURE_ONLY = "wait_for_state,timeout,context,prefect_harness"


def test_vulture_finds_no_certain_dead_code():
    vulture = Path(sys.executable).parent / "vulture"
    r = subprocess.run([str(vulture), "skypatrol", "geodata", "models", "drone", "pipeline",
                        "flows", "benchmarks", "tests", "--min-confidence", "100",
                        "--ignore-names", SIGNATURE_ONLY],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
