"""The explorer page in a real browser: Debian's chromium against ``make dev``'s own processes.

The devserver starts redis-server and the four functions as ``make dev`` does (graph told where
submit and status are, submit and status allowing graph's origin), and a headless chromium
uses the page as a person would: plots, a sample, a bad value, a narrow screen, the keyboard.
Every journey also requires that the page raised no JavaScript error and logged no console error.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
from browser import Problems, chromium
from playwright.sync_api import BrowserContext, Page
from test_devserver import Dev, dev_environment, stop_group_and_wait

from devtools.devserver import ROOT, stop
from shared.config import BUNDLED_DATASET
from shared.dataset.features import FEATURES, csv_name
from shared.plotting.plots import COLOURS

pytestmark = pytest.mark.integration

STATIC = ROOT / "shared" / "web" / "static"
#: axe-core, pinned in tests/axe/package-lock.json and installed there by ``npm ci``.
AXE = ROOT / "tests" / "axe"
FRAME = pd.read_csv(BUNDLED_DATASET).rename(columns={csv_name(f): f for f in FEATURES})
#: What chromium sends for a page it navigates to.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
#: What the page's own fetches log when submit answers a bad sample with its 400.
REFUSED_SAMPLE = "Failed to load resource: the server responded with a status of 400"
#: Set to a path (docs/explorer.png) to save the README's screenshot from the sample journey.
SCREENSHOT = os.environ.get("EXPLORER_SCREENSHOT")

#: The plot image as pixels (a data: URL of a canvas it was drawn on), and whether it is loaded.
PLOT_PIXELS = """image => {
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    canvas.getContext("2d").drawImage(image, 0, 0);
    return canvas.toDataURL();
}"""
REDRAWN = """wanted => {
    const image = document.querySelector("#plot-image");
    return image.src.includes(wanted) && image.complete && image.naturalWidth > 0 && !image.hidden;
}"""


@pytest.fixture(scope="module")
def dev() -> Iterator[dict[str, str]]:
    """``make dev`` on free ports: name -> base URL, as it prints them."""
    server = Dev(dev_environment())
    try:
        server.line_starting("ready in", timeout=90)
    except BaseException:
        stop([server.process])  # SIGTERM first: it stops its redis-server and functions
        raise
    yield {name: server.url(f"{name.upper()}_PORT") for name in ("submit", "status", "graph")}
    stop_group_and_wait(server, signal.SIGTERM)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def problems() -> Problems:
    return Problems()


@pytest.fixture
def page(browser: BrowserContext, dev: dict[str, str], problems: Problems) -> Iterator[Page]:
    """The explorer, opened at graph's URL, once its first plot is shown."""
    opened = problems.watch(browser.new_page())
    opened.goto(f"{dev['graph']}/")
    opened.wait_for_selector("#plot-image", state="visible")
    yield opened
    opened.close()


def plot_pixels(page: Page) -> str:
    return page.eval_on_selector("#plot-image", PLOT_PIXELS)


def wait_for_redraw(page: Page, wanted: str) -> None:
    """Until the plot image shows a picture from a URL holding ``wanted``."""
    page.wait_for_function(REDRAWN, arg=wanted, timeout=60_000)


def place(page: Page, sample: dict[str, float]) -> None:
    for name, value in sample.items():
        page.fill(f'#sample-form input[name="{name}"]', str(value))
    page.click("#sample-form button[type=submit]")


def test_the_page_shows_a_plot_and_redraws_it_for_another_feature_and_plot_type(page, problems, dev):
    image = page.locator("#plot-image")
    assert image.evaluate("i => i.naturalWidth") == 900  # the graph URL itself, at the chosen size
    first_src, first_pixels = image.get_attribute("src"), plot_pixels(page)
    assert first_src.startswith("graph/histogram?feature=radius_mean&")

    page.select_option("#feature", "area_mean")
    wait_for_redraw(page, "feature=area_mean")
    area_pixels = plot_pixels(page)
    assert area_pixels != first_pixels
    assert page.text_content("#feature-description").startswith("Area (mean): area of the nucleus")

    page.select_option("#plot", "scatter")
    wait_for_redraw(page, "graph/scatter?x=area_mean&y=texture_mean&")
    assert plot_pixels(page) != area_pixels
    assert page.is_visible("#second")
    assert not page.is_visible("#bins")

    svg = requests.get(page.eval_on_selector("#link-svg", "a => a.href"), timeout=60)
    assert svg.headers["Content-Type"].startswith("image/svg+xml")
    numbers = requests.get(page.eval_on_selector("#link-json", "a => a.href"), timeout=60).json()
    assert (numbers["x"], numbers["y"]) == ("area_mean", "texture_mean")
    assert problems.all() == []


def test_the_feature_choices_are_the_thirty_with_their_full_names_and_units(page, problems):
    options = page.eval_on_selector_all("#feature option", "os => os.map(o => [o.value, o.text])")

    assert [value for value, _text in options] == list(FEATURES)
    assert dict(options)["area_worst"] == "Area (worst) (px²)"
    assert dict(options)["smoothness_se"] == "Smoothness (standard error)"  # dimensionless: no unit
    assert problems.all() == []


def test_a_sample_is_placed_and_its_picture_and_summary_shown(page, problems, dev):
    place(page, {"radius_mean": 14.5, "texture_mean": 20})

    result = page.wait_for_selector("#result-image", timeout=60_000)
    assert result.evaluate("i => i.naturalWidth") > 0
    assert re.fullmatch(rf"{dev['status']}/result/[0-9a-f]{{32}}", result.get_attribute("src"))
    summary = page.wait_for_selector("#summary:has-text('percentile')").inner_text()
    # radius_mean 14.5 is above 90.48 % of benign cases and 18.87 % of malignant ones (test_analysis).
    assert re.search(r"Radius \(mean\) \(px\)\s+14\.5\s+90\.5\s+18\.9", summary)
    assert "5 nearest cases" in summary
    assert "2 benign" in summary
    assert "3 malignant" in summary
    assert "not a diagnosis" in summary
    assert problems.all() == []
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)


def test_a_bad_value_shows_the_apis_own_message_beside_its_field(page, problems):
    place(page, {"radius_mean": 14.5, "texture_mean": -3})

    error = page.wait_for_selector("#sample-texture_mean-error:not(:empty)")
    assert error.text_content() == "texture_mean: -3 is outside 0 to 1e+06"  # submit's message, verbatim
    field = page.locator('#sample-form input[name="texture_mean"]')
    assert field.get_attribute("aria-invalid") == "true"
    assert field.evaluate("input => input === document.activeElement")
    assert page.query_selector("#result-image") is None
    assert problems.page_errors == []
    assert [e for e in problems.console_errors if not e.startswith(REFUSED_SAMPLE)] == []

    page.fill('#sample-form input[name="texture_mean"]', "20")  # corrected, the error goes
    page.click("#sample-form button[type=submit]")
    page.wait_for_selector("#result-image", timeout=60_000)
    assert error.text_content() == ""


def test_an_empty_form_gets_the_apis_message_for_the_whole_form(page):
    page.click("#sample-form button[type=submit]")

    assert (
        page.wait_for_selector("#sample-error:not(:empty)").text_content()
        == "give at least one feature value"
    )


def test_at_360_px_wide_nothing_scrolls_sideways(page, problems):
    page.set_viewport_size({"width": 360, "height": 740})
    page.click("#sample-example")
    page.click("#sample-form button[type=submit]")
    page.wait_for_selector("#summary", timeout=60_000)

    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] == 360
    assert page.eval_on_selector("#result-image", "i => i.getBoundingClientRect().right") <= 360
    assert page.eval_on_selector("#plot-image", "i => i.getBoundingClientRect().right") <= 360
    assert problems.all() == []


def test_every_control_has_a_label_and_the_keyboard_alone_places_a_sample(page, problems):
    unlabelled = page.evaluate(
        """[...document.querySelectorAll("select, input")]
            .filter(control => control.labels.length === 0).map(control => control.id)"""
    )
    assert unlabelled == []

    for _ in range(
        80
    ):  # Tab from the top of the page (plot, filters, a page of rows) to the first measurement
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "radius_mean":
            break
    else:
        pytest.fail("Tab never reached the radius_mean field")
    page.keyboard.type("14.5")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "texture_mean"
    page.keyboard.type("20")
    page.keyboard.press("Enter")

    page.wait_for_selector("#result-image", timeout=60_000)
    assert page.evaluate("document.activeElement.textContent") == "Where your sample sits"
    assert problems.all() == []


def test_a_sample_in_the_pages_url_is_placed_at_once(browser, dev, problems):
    page = problems.watch(browser.new_page())
    page.goto(f"{dev['graph']}/?radius_mean=14.5&texture_mean=20")

    page.wait_for_selector("#summary:has-text('percentile')", timeout=60_000)
    assert page.input_value('#sample-form input[name="texture_mean"]') == "20"
    assert problems.all() == []
    page.close()


def test_curl_still_gets_the_json_index(dev):
    for accept in ({}, {"Accept": "*/*"}, {"Accept": "application/json"}):
        index = requests.get(f"{dev['graph']}/", headers=accept, timeout=10)
        assert index.headers["Content-Type"] == "application/json"
        assert index.json()["service"] == "graph"

    page = requests.get(f"{dev['graph']}/", headers={"Accept": BROWSER_ACCEPT}, timeout=10)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert all(f'id="{name}"' in page.text for name in ("plot", "feature", "plot-image", "sample-form"))


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/", "text/html"),
        ("/explorer/explorer.css", "text/css"),
        ("/explorer/explorer.js", "text/javascript"),
        ("/explorer/icon.svg", "image/svg+xml"),
    ],
)
def test_the_pages_files_carry_etags_and_a_current_one_gets_304(dev, path, media_type):
    url = f"{dev['graph']}{path}"
    first = requests.get(url, headers={"Accept": BROWSER_ACCEPT}, timeout=10)
    assert first.headers["Content-Type"].split(";")[0] == media_type
    assert first.headers["Cache-Control"] == "no-cache"  # revalidated each time: a deploy shows at once

    again = requests.get(
        url, headers={"Accept": BROWSER_ACCEPT, "If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304
    assert again.content == b""
    stale = requests.get(url, headers={"Accept": BROWSER_ACCEPT, "If-None-Match": '"old"'}, timeout=10)
    assert stale.status_code == 200
    assert stale.content == first.content


def test_the_page_loads_nothing_from_outside_the_deployment(browser, dev, problems):
    page = problems.watch(browser.new_page())
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{dev['graph']}/?radius_mean=14.5")
    page.wait_for_selector("#summary", timeout=60_000)
    page.close()

    origins = {re.match(r"https?://[^/]+", url)[0] for url in requested}
    assert origins == {dev["graph"], dev["submit"], dev["status"]}  # no CDN, no web font
    policy = requests.get(f"{dev['graph']}/", headers={"Accept": BROWSER_ACCEPT}, timeout=10).headers[
        "Content-Security-Policy"
    ]
    assert policy.startswith("default-src 'self'; connect-src 'self' ")
    assert set(re.findall(r"https?://[^\s;]+", policy)) == {dev["submit"], dev["status"]}
    assert problems.all() == []


def test_the_page_learns_where_submit_and_status_are(dev):
    services = requests.get(f"{dev['graph']}/explorer/services", timeout=10).json()

    assert services == {"submit": f"{dev['submit']}/submit", "status": dev["status"]}


def test_the_pages_class_colours_are_the_plots():
    css = (STATIC / "explorer.css").read_text()

    assert re.search(r"--benign:\s*(#\w+)", css)[1] == COLOURS["benign"]
    assert re.search(r"--malignant:\s*(#\w+)", css)[1] == COLOURS["malignant"]


def test_the_readme_shows_the_pages_screenshot():
    assert "![The explorer page](docs/explorer.png)" in (ROOT / "README.md").read_text()
    assert Path(ROOT / "docs" / "explorer.png").read_bytes().startswith(b"\x89PNG")


# the rows, the filters, accessibility -------------------------------------------------------------


def shown_ids(page: Page) -> list[int]:
    return [
        int(i) for i in page.eval_on_selector_all("#rows-table tbody a", "links => links.map(a => a.text)")
    ]


def test_the_filters_choose_the_cases_of_the_plot_and_of_the_rows(page, problems, dev):
    page.wait_for_selector("#rows-count:has-text('of 569 matching cases')")
    page.select_option("#filter-diagnosis", "M")
    page.click("#add-condition")
    page.select_option("#condition-1-feature", "radius_mean")
    page.select_option("#condition-1-op", "gt")
    page.fill("#condition-1-value", "15")
    page.press("#condition-1-value", "Tab")  # the change applies

    chosen = FRAME[(FRAME.diagnosis == "M") & (FRAME.radius_mean > 15)]
    wait_for_redraw(page, "diagnosis=M&radius_mean__gt=15")
    page.wait_for_selector(f"#rows-count:has-text('Rows 1–20 of {len(chosen)} matching cases')")
    assert shown_ids(page) == chosen["id"].iloc[:20].tolist()
    numbers = requests.get(page.eval_on_selector("#link-json", "a => a.href"), timeout=60).json()
    assert numbers["count"] == len(chosen)
    assert f"malignant, radius_mean > 15 ({len(chosen)} cases)" in numbers["title"]

    csv = requests.get(page.eval_on_selector("#rows-csv", "a => a.href"), timeout=60)
    assert csv.headers["Content-Disposition"].startswith("attachment")
    assert pd.read_csv(io.BytesIO(csv.content))["id"].tolist() == chosen["id"].tolist()
    assert problems.all() == []


def test_the_rows_page_forward_and_back_and_sort_by_a_column(page, problems):
    page.wait_for_selector("#rows-count:has-text('Rows 1–20 of 569 matching cases')")
    assert shown_ids(page) == FRAME["id"].iloc[:20].tolist()
    assert page.is_disabled("#rows-previous")

    page.click("#rows-next")
    page.wait_for_selector("#rows-count:has-text('Rows 21–40 of 569')")
    assert shown_ids(page) == FRAME["id"].iloc[20:40].tolist()

    page.click('#rows-table button[data-sort="radius_mean"]')
    page.wait_for_selector('#rows-table th[aria-sort="ascending"]')
    assert page.text_content("#rows-count").startswith("Rows 1–20 of 569")
    ascending = FRAME.sort_values("radius_mean", kind="stable")["id"].tolist()
    assert shown_ids(page) == ascending[:20]

    page.click('#rows-table button[data-sort="radius_mean"]')
    page.wait_for_selector('#rows-table th[aria-sort="descending"]')
    descending = FRAME.sort_values("radius_mean", ascending=False, kind="stable")["id"].tolist()
    assert shown_ids(page) == descending[:20]
    page.click("#rows-next")
    page.wait_for_selector("#rows-count:has-text('Rows 21–40')")
    assert shown_ids(page) == descending[20:40]
    page.click("#rows-previous")
    page.wait_for_selector("#rows-count:has-text('Rows 1–20')")
    assert shown_ids(page) == descending[:20]
    assert "_sort_desc=radius_mean" in page.eval_on_selector("#rows-csv", "a => a.href")
    assert problems.all() == []


def test_an_empty_selection_says_so_instead_of_an_empty_plot(page, problems):
    page.click("#add-condition")
    page.fill("#condition-1-value", "1000")  # radius_mean > 1000: no case
    page.press("#condition-1-value", "Tab")

    error = page.wait_for_selector("#plot-error:has-text('no case matches')")
    assert "radius_mean > 1000" in error.text_content()
    assert page.is_hidden("#plot-image")
    page.wait_for_selector("#rows-count:has-text('No row of 0 matching cases')")
    assert problems.page_errors == []


def test_the_neighbours_link_to_their_rows(page, problems, dev):
    place(page, {"radius_mean": 14.5, "texture_mean": 20})

    links = page.wait_for_selector("#neighbour-cases a", timeout=60_000) and page.eval_on_selector_all(
        "#neighbour-cases a", "links => links.map(a => a.href)"
    )
    assert len(links) == 5
    for link in links:
        assert re.fullmatch(rf"{dev['graph']}/dataset/rows/\d+", link)
        case = requests.get(link, timeout=10)
        assert case.status_code == 200
        assert case.json()["id"] == int(link.rsplit("/", 1)[1])
    assert problems.all() == []


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's script; on a fresh machine ``npm ci`` installs the pinned version first."""
    script = AXE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        subprocess.run(
            ["npm", "ci", "--prefix", str(AXE), "--no-audit", "--no-fund"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    return script.read_text()


def serious_violations(page: Page, axe_source: str) -> list[tuple[str, str, list]]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.evaluate(axe_source)  # evaluated by the browser's DevTools protocol: the page's CSP allows it
    result = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        (v["id"], v["impact"], [node["target"] for node in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_axe_finds_no_serious_or_critical_violation(page, problems, axe_source):
    page.wait_for_selector("#rows-count:has-text('of 569')")
    assert serious_violations(page, axe_source) == []

    page.click("#add-condition")  # the filter's controls, a page of rows and a placed sample's summary
    page.select_option("#filter-diagnosis", "B")
    place(page, {"radius_mean": 14.5, "texture_mean": 20})
    page.wait_for_selector("#neighbour-cases a", timeout=60_000)
    page.wait_for_selector("#rows-count:has-text('357 matching cases')")
    assert serious_violations(page, axe_source) == []
    assert problems.all() == []

    # axe does see contrast: the plots' own vermilion as text (3.9:1) is a serious violation
    page.evaluate("document.querySelectorAll('.malignant').forEach(e => { e.style.color = '#D55E00'; })")
    assert "color-contrast" in {rule for rule, _impact, _nodes in serious_violations(page, axe_source)}


def test_text_in_the_malignant_colour_has_aa_contrast():
    css = (STATIC / "explorer.css").read_text()
    text_colour = re.search(r"\.malignant \{ color: var\(--([\w-]+)\)", css)[1]
    colour = re.search(rf"--{text_colour}:\s*(#\w+)", css)[1]

    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    assert (1.05 / (luminance(colour) + 0.05)) >= 4.5  # WCAG AA for small text on white
