"""Library warnings go to the log file, not the terminal, unless --verbose."""

import subprocess
import sys


def test_library_warnings_go_to_the_log_file(tmp_path):
    log = tmp_path / "skypatrol.log"
    code = ("import sys, warnings, click\n"
            "from skypatrol.cli import cli\n"
            "@cli.command('warn-probe')\n"
            "def probe():\n"
            "    warnings.warn('GDAL says: something odd', RuntimeWarning)\n"
            "cli(sys.argv[1:], standalone_mode=False)\n")
    quiet = subprocess.run([sys.executable, "-c", code, "warn-probe"], capture_output=True,
                           text=True, env={"SKYPATROL_LOG": str(log), "PATH": ""})
    assert quiet.returncode == 0, quiet.stderr
    assert "something odd" not in quiet.stderr and "something odd" in log.read_text()
    loud = subprocess.run([sys.executable, "-c", code, "--verbose", "warn-probe"],
                          capture_output=True, text=True,
                          env={"SKYPATROL_LOG": str(log), "PATH": ""})
    assert "something odd" in loud.stderr
