"""CHECKS.toml: the analyst's tolerances reach the survey; a wrong key is a clear error."""

import pytest
from click.testing import CliRunner

from geodata.errors import InputError
from pipeline.checks_config import load_checks
from pipeline.ingest import IngestConfig
from skypatrol.cli import cli


def test_settings_are_laid_over_the_defaults(tmp_path):
    p = tmp_path / "checks.toml"
    p.write_text("[diff]\nmin_violation_m2 = 12.5\nmin_shadow_ratio = 0.4\n"
                 "[quality]\nmin_sharpness = 2\n[ingest]\nmax_skip_ratio = 0.2\n")
    diff, ingest = load_checks(p, IngestConfig(max_skip_ratio=0.9))
    assert diff.min_violation_m2 == 12.5 and diff.min_shadow_ratio == 0.4
    assert ingest.quality.min_sharpness == 2 and ingest.max_skip_ratio == 0.2
    assert load_checks(None)[0] == type(diff)()


@pytest.mark.parametrize("text,needle", [
    ("[diff]\nmin_shadow = 0.4\n", "no setting 'min_shadow'"),
    ("[diff]\nmin_shadow_ratio = 'high'\n", "expected a number"),
    ("[shadows]\nx = 1\n", "unknown section(s) shadows"),
    ("[diff\n", "not a readable TOML file"),
    ("[ingest]\nmax_skip_ratio = 3\n", "max_skip_ratio must be within 0..1"),
    ("[ingest]\nquality = 3\n", "no setting 'quality'"),
])
def test_a_wrong_setting_names_the_file_section_and_key(tmp_path, text, needle):
    p = tmp_path / "checks.toml"
    p.write_text(text)
    with pytest.raises(InputError, match="checks.toml") as info:
        load_checks(p)
    assert needle in str(info.value)


def test_the_cli_refuses_a_bad_config_before_any_work(tiny_world, tmp_path):
    p = tmp_path / "checks.toml"
    p.write_text("[diff]\nmin_shadow = 0.4\n")
    r = CliRunner().invoke(cli, ["detect", str(tiny_world / "epoch1" / "ortho.tif"),
                                 "--registry", str(tiny_world / "registry.gpkg"),
                                 "--out", str(tmp_path / "o"), "--config", str(p)])
    assert r.exit_code == 2 and "no setting 'min_shadow'" in r.output
    assert "Traceback" not in r.output


def test_a_whole_number_setting_refuses_a_fraction(tmp_path):
    p = tmp_path / "checks.toml"
    p.write_text("[quality]\nmax_windows = 16.5\n")
    with pytest.raises(InputError, match="max_windows"):
        load_checks(p)
    p.write_text("[quality]\nmax_windows = 0\n")
    with pytest.raises(InputError, match="max_windows 1-256"):
        load_checks(p)


def test_a_check_is_switched_off_by_name(tmp_path):
    p = tmp_path / "checks.toml"
    p.write_text("[checks]\nboard_shape = false\nsecond_look = true\nshadow = true\n")
    diff, _ = load_checks(p)
    assert not diff.on("board_shape") and diff.on("second_look")
    assert diff.on("shadow") and not diff.on("roof_colour")  # on by name; off by default


@pytest.mark.parametrize("text,needle", [
    ("[checks]\nshadows = false\n", "no check 'shadows'"),
    ("[checks]\nshadow = 0\n", "expected true or false"),
])
def test_a_wrong_check_names_the_file_and_the_key(tmp_path, text, needle):
    p = tmp_path / "checks.toml"
    p.write_text(text)
    with pytest.raises(InputError, match="checks.toml") as info:
        load_checks(p)
    assert needle in str(info.value)
