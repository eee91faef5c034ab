"""Fixtures of the flow tests: Prefect's test harness and two surveys of a tiny world."""

import datetime as dt
import json
import shutil

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.detect import detect_flow


@pytest.fixture(scope="session")
def prefect_harness():
    with prefect_test_harness(server_startup_timeout=300):
        yield


def dates(world):
    return [dt.date.fromisoformat(d) for d in
            json.loads((world / "world.json").read_text())["survey_dates"]]


@pytest.fixture(scope="session")
def two_surveys(prefect_harness, tiny_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("surveys")
    inputs = root / "inputs1"
    shutil.copytree(tiny_world / "epoch1" / "frames", inputs)
    shutil.copy(tiny_world / "epoch1" / "ortho.tif", inputs / "ortho.tif")
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    d1, d2 = dates(tiny_world)
    reg = str(tiny_world / "registry.gpkg")
    s1 = detect_flow(inputs=[str(inputs)], registry=reg, out=str(root / "s1"),
                     survey_id="S1", survey_date=d1)
    s2 = detect_flow(inputs=[str(tiny_world / "epoch2" / "ortho.tif")], registry=reg,
                     out=str(root / "s2"), survey_id="S2", survey_date=d2, lang="zh")
    return root, s1, s2




@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright (the page tests skip without it)."""
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    from pipeline.screenshots import CHROMIUM_ARGS, chromium_path

    if chromium_path() is None:
        pytest.skip("Debian chromium is not installed (make browser installs it)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()
