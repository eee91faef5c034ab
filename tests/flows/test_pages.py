"""The dashboard and the work orders in a real headless Chromium, at phone and desktop widths:
offline, readable, printable, and the work order's result form round-trips into the register."""

import datetime as dt
import json
import shutil

import pytest

from pipeline.cases import import_squad_results, read_register
from pipeline.dashboard import write_dashboard
from pipeline.screenshots import chromium_path

pytestmark = pytest.mark.slow
playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
if chromium_path() is None:
    pytest.skip("Debian chromium is not installed (make browser installs it)",
                allow_module_level=True)

PHONE, DESKTOP = 390, 1280

#: Visible text smaller than 14 px: [tag, class, size, text].
SMALL_TEXT_JS = """() => {
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const n = walker.currentNode;
    if (!n.textContent.trim()) continue;
    const el = n.parentElement;
    if (el.closest('script,style,title')) continue;
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden') continue;
    const size = parseFloat(cs.fontSize);
    if (size < 14) bad.push([el.tagName, String(el.className), size,
                             n.textContent.trim().slice(0, 40)]);
  }
  return bad;
}"""


def open_page(browser, path, width=DESKTOP, **kw):
    page = browser.new_page(viewport={"width": width, "height": 900}, **kw)
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, errors, requests


def no_horizontal_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture(scope="module")
def dashboard(two_surveys):
    root, _, s2 = two_surveys
    end = dt.date.fromisoformat(s2["survey_date"])
    return write_dashboard(root / "cases.gpkg", root / "dash", "zh", date_to=end,
                           deadline_days=0)


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_dashboard_in_chromium(browser, two_surveys, dashboard, width):
    root, _, s2 = two_surveys
    page, errors, requests = open_page(browser, dashboard, width)
    assert errors == []
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
    cases = read_register(root / "cases.gpkg", "EPSG:4549")["cases"]
    assert page.locator("path.site").count() == len(cases)
    for chart in ("chart-trend", "chart-trend-area", "chart-verified", "chart-boards",
                  "chart-district", "chart-squad"):
        assert page.locator(f"#{chart} svg").count() == 1, chart
    assert "违法建设" in page.locator("#chart-trend").text_content()  # the legend, in Chinese
    assert page.locator(".leaflet-control-scale-line").count() == 1
    assert page.locator(".legend").count() == 1
    page.locator("path.site").first.dispatch_event("click")  # a tap opens the site's label
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert any(t in popup.inner_text() for t in cases.task_id)
    assert no_horizontal_scroll(page)
    assert page.evaluate(SMALL_TEXT_JS) == []
    data = json.loads((root / "dash" / "dashboard.json").read_text())
    open_cases = cases[cases.status == "open"]
    assert data["open"]["count"] == len(open_cases)
    # deadline 0 days: every case open and first seen before the period's end is overdue
    assert len(data["overdue"]) == int((open_cases.first_seen < s2["survey_date"]).sum())
    resolved = cases[cases.status == "resolved"]
    s2_resolved = s2["totals"]["resolved_per_category"]
    for cat, key in (("illegal_construction", "demolished_m2"),
                     ("green_encroachment", "regreened_m2")):
        want = resolved.loc[resolved.category == cat, "area_m2"].sum()
        assert data["verified"][key] == pytest.approx(want, abs=0.1)
        assert data["verified"][key] == pytest.approx(
            s2_resolved.get(cat, {}).get("area_m2", 0.0), abs=0.1)
    page.close()


def orders_and_tasks(root):
    tasks = json.loads((root / "s2" / "tasks.geojson").read_text())["features"]
    if not tasks:
        pytest.skip("the survey produced no tasks to put on a work order")
    orders = sorted((root / "s2" / "squads").glob("*.html"))
    assert orders
    return orders, tasks


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_work_orders_read_well_on_a_phone_and_a_desk(browser, two_surveys, width):
    root, _, _ = two_surveys
    orders, tasks = orders_and_tasks(root)
    for order in orders:
        page, errors, requests = open_page(browser, order, width)
        assert errors == []
        assert all(u.startswith(("file://", "data:")) for u in requests), requests
        squad = page.locator("h1").inner_text()
        mine = [f for f in tasks if f["properties"]["squad"] in squad]
        assert page.locator("article.site").count() == len(mine)
        assert page.locator("a[href^='https://uri.amap.com/navigation'][href*='callnative=1']"
                            ).count() == len(mine)
        assert page.locator("a[href^='https://api.map.baidu.com/marker']").count() == len(mine)
        assert no_horizontal_scroll(page)
        assert page.evaluate(SMALL_TEXT_JS) == []
        widths = page.eval_on_selector_all(".chip img", "els => els.map(e => e.clientWidth)")
        assert len(widths) >= len(mine), "every site has its chip"
        if width == PHONE:
            assert min(widths) >= 250, widths
        taps = page.eval_on_selector_all(
            "a.btn, input[type=radio]",
            "els => els.map(e => e.closest('label') || e).map(e => e.getBoundingClientRect())"
            ".map(r => Math.min(r.width, r.height))")
        assert min(taps) >= 24
        page.close()


def test_a_forwarded_work_order_shows_every_chip_and_prints_a_qr_by_each_site(
        browser, two_surveys, tmp_path):
    root, _, _ = two_surveys
    orders, _ = orders_and_tasks(root)
    alone = tmp_path / "forwarded" / orders[0].name  # no evidence folder beside it
    alone.parent.mkdir()
    shutil.copy(orders[0], alone)
    page, errors, _ = open_page(browser, alone, PHONE)
    assert errors == []
    images = page.eval_on_selector_all(
        ".chip img", "els => els.map(e => [e.complete, e.naturalWidth])")
    assert images and all(done and w > 0 for done, w in images)
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 718, "height": 1000})  # A4 at 96 dpi minus margins
    boxes = page.eval_on_selector_all("article.site", """els => els.map(a => {
        const q = a.querySelector('.qr svg');
        if (!q) return null;
        const r = q.getBoundingClientRect(), s = a.getBoundingClientRect();
        return [r.width, r.top >= s.top && r.bottom <= s.bottom];
    })""")
    assert boxes and all(b is not None and b[0] >= 90 and b[1] for b in boxes), boxes
    assert no_horizontal_scroll(page)
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    page.close()


def test_the_result_form_saves_a_file_import_results_reads(browser, two_surveys, tmp_path):
    root, _, _ = two_surveys
    orders, _ = orders_and_tasks(root)
    register = tmp_path / "cases.gpkg"
    shutil.copy(root / "cases.gpkg", register)
    page, errors, _ = open_page(browser, orders[0], PHONE, accept_downloads=True)
    first = page.locator("fieldset.result").first
    task = first.get_attribute("data-task")
    first.locator("input[value=rectified]").check()
    first.locator("textarea").fill("拆除完毕 <b>ok</b>")
    photo = tmp_path / "site.jpg"
    shutil.copy(next((root / "s2" / "evidence").glob("*.jpg")), photo)
    first.locator("input[type=file]").set_input_files(str(photo))
    page.wait_for_timeout(500)  # the photo is shrunk on a canvas
    page.reload()  # what was entered survives a reload (kept on the phone)
    assert page.locator("fieldset.result").first.locator("input[value=rectified]").is_checked()
    page.locator("fieldset.result").first.locator("input[type=file]").set_input_files(str(photo))
    page.wait_for_timeout(500)
    with page.expect_download() as dl:
        page.locator("#save").click()
    saved = tmp_path / dl.value.suggested_filename
    dl.value.save_as(saved)
    assert errors == []
    doc = json.loads(saved.read_text())
    assert [r["task_id"] for r in doc["results"]] == [task]
    assert doc["results"][0]["photo"].startswith("data:image/jpeg;base64,")
    assert import_squad_results(register, saved) == 1
    cases = read_register(register, "EPSG:4549")["cases"].set_index("task_id")
    assert cases.at[task, "squad_result"] == "rectified"
    assert cases.at[task, "squad_note"] == "拆除完毕 <b>ok</b>"
    assert list((tmp_path / "cases-photos").glob(f"{task}-*.jpg"))
    page.close()
