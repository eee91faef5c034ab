"""The dashboard and a work order in a real headless Chromium: offline, complete, printable."""

import datetime as dt
import json

import pytest

from pipeline.cases import read_register
from pipeline.dashboard import write_dashboard
from pipeline.screenshots import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.slow
playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
if chromium_path() is None:
    pytest.skip("Debian chromium is not installed (make browser installs it)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, path, width=1280):
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, errors, requests


def fits_a4(page):
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 718, "height": 1000})  # A4 at 96 dpi minus 10 mm margins
    return page.evaluate("document.documentElement.scrollWidth") <= 718


def test_dashboard_in_chromium(browser, two_surveys):
    root, _, s2 = two_surveys
    end = dt.date.fromisoformat(s2["survey_date"])
    path = write_dashboard(root / "cases.gpkg", root / "dash", "zh", date_to=end)
    page, errors, requests = open_page(browser, path)
    assert errors == []
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
    cases = read_register(root / "cases.gpkg", "EPSG:4549")["cases"]
    assert page.locator("circle.site").count() == len(cases)
    data = json.loads((root / "dash" / "dashboard.json").read_text())
    open_cases = cases[cases.status == "open"]
    assert data["open"]["count"] == len(open_cases)
    assert data["open"]["area_m2"] == pytest.approx(open_cases.area_m2.sum(), abs=0.1)
    resolved = cases[cases.status == "resolved"]
    s2_resolved = s2["totals"]["resolved_per_category"]
    for cat, key in (("illegal_construction", "demolished_m2"),
                     ("green_encroachment", "regreened_m2")):
        want = resolved.loc[resolved.category == cat, "area_m2"].sum()
        assert data["verified"][key] == pytest.approx(want, abs=0.1)
        assert data["verified"][key] == pytest.approx(
            s2_resolved.get(cat, {}).get("area_m2", 0.0), abs=0.1)
    assert fits_a4(page)
    page.close()


def test_work_orders_in_chromium(browser, two_surveys):
    root, _, _ = two_surveys
    tasks = json.loads((root / "s2" / "tasks.geojson").read_text())["features"]
    orders = sorted((root / "s2" / "squads").glob("*.html"))
    if not tasks:
        pytest.skip("the survey produced no tasks to put on a work order")
    assert orders
    for order in orders:
        page, errors, requests = open_page(browser, order, width=390)
        assert errors == []
        assert all(u.startswith(("file://", "data:")) for u in requests), requests
        squad = order.stem
        mine = [f for f in tasks if f["properties"]["squad"].replace(" ", "-") == squad]
        assert page.locator("tbody tr").count() == len(mine)
        assert page.locator("a[href^='https://uri.amap.com']").count() == len(mine)
        assert fits_a4(page)
        page.close()
