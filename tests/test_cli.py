import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from skypatrol.cli import cli


@pytest.mark.parametrize("command", [[], ["synth"], ["check"], ["demo"]])
def test_help_on_every_command(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_synth_writes_the_contract_layout(tmp_path):
    out = tmp_path / "w"
    result = CliRunner().invoke(
        cli, ["synth", "--out", str(out), "--size-m", "60", "--gsd-cm", "10", "--seed", "3",
              "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert (out / "registry.gpkg").exists()
    for k in (1, 2):
        assert (out / f"epoch{k}" / "ortho.tif").exists()
        assert (out / f"epoch{k}" / "truth.gpkg").exists()
        assert any((out / f"epoch{k}" / "frames").glob("DJI_*.JPG"))
    world = json.loads((out / "world.json").read_text())
    assert world["config"]["seed"] == 3 and len(world["survey_dates"]) == 2


def test_synth_bad_arguments_exit_2(tmp_path):
    result = CliRunner().invoke(cli, ["synth", "--out", str(tmp_path), "--size-m", "5"])
    assert result.exit_code == 2
    assert "size_m" in result.output


SCRIPT = Path(sys.executable).parent / "skypatrol"


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed in this venv")
def test_console_script_exit_status_for_a_missing_registry(tmp_path):
    proc = subprocess.run([str(SCRIPT), "check", "--registry", str(tmp_path / "none.gpkg")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "file not found" in proc.stderr
