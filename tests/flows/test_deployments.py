from pathlib import Path

import pytest

from flows.deployments import load_deployments
from skypatrol.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


def test_prefect_yaml_deployments_have_cron_schedules():
    deps = load_deployments(ROOT / "prefect.yaml")
    names = {d.name for d in deps}
    assert {"liangxi-weekly-survey", "binhu-weekly-survey", "monthly-leadership-report"} <= names
    for d in deps:
        assert d.schedules, d.name
        assert d.schedules[0].schedule.cron
        assert d.parameters


def test_bad_deployments_file(tmp_path):
    (tmp_path / "p.yaml").write_text("deployments: []\n")
    with pytest.raises(InputError, match="no deployments"):
        load_deployments(tmp_path / "p.yaml")
