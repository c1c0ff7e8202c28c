"""The landing page, the docs page and the explorer in a real browser: Debian's headless Chromium,
driven by Playwright against the production server (`live_server`). No browser is downloaded: when
/usr/bin/chromium is missing the tests install Debian's package if they can (root with apt-get),
else skip and say why.

The tests write the screenshots docs/researchers.md shows, docs/screenshots/*.png, so they stay current.
They are made to come out the same from run to run (no port, clock or request id in the frame),
so a run changes those files only when the pages change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import pytest
import yaml

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# The origin the browser is shown, as `make run` serves it; Chromium maps it to the test server,
# so the URLs in the docs screenshot read like the tour in docs/researchers.md and do not change between runs.
SHOWN = "http://localhost:8000"
# Without the background-networking switches Chromium keeps trying to reach Google's hosts.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_or_skip() -> str:
    """Debian's Chromium, installed with apt-get when missing and we may; otherwise a skip that says why."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"{CHROMIUM} is missing and only root with apt-get can install Debian's chromium here")
    installed = subprocess.run(
        "apt-get update -qq && apt-get install -y -qq chromium",
        shell=True,
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        capture_output=True,
        text=True,
        check=False,
    )
    if installed.returncode != 0 or not os.path.exists(CHROMIUM):
        pytest.skip(f"apt-get could not install Debian's chromium: {installed.stderr[-300:]}")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(live_server: str) -> Iterator[Browser]:
    """One Chromium for the whole session: starting it is the slow part."""
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    port = urlsplit(live_server).port
    rules = f"--host-resolver-rules=MAP {urlsplit(SHOWN).netloc} 127.0.0.1:{port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=[*FLAGS, rules])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page that records console errors, uncaught exceptions and failed requests in `page.problems`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("requestfailed", lambda request: page.problems.append(f"failed: {request.url}"))
    yield page
    context.close()


def screenshot(page: Page, name: str, **options: object) -> None:
    """Writes docs/screenshots/{name}, which docs/researchers.md shows."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), **options)


OPERATION_BLOCKS = """blocks => blocks.map(block => [
  block.querySelector(".opblock-summary-method").innerText,
  block.querySelector(".opblock-summary-path").dataset.path,
  block.id,
])"""


def test_the_docs_page_lists_every_operation_and_tries_one_out(page, live_server):
    answer = page.goto(f"{SHOWN}/docs")
    assert answer.status == 200 and answer.server_addr()["port"] == urlsplit(live_server).port
    page.wait_for_selector(".opblock")
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    operations = sorted(
        (method.upper(), path, operation["operationId"])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    )
    # Each block's id is operations-{tag}-{operationId}.
    blocks = page.eval_on_selector_all(".opblock", OPERATION_BLOCKS)
    shown = sorted((method, path, block_id.split("-", 2)[2]) for method, path, block_id in blocks)
    assert shown == operations

    talks = page.locator("#operations-talks-listTalks")
    talks.locator(".opblock-summary").click()
    talks.locator("button.try-out__btn").click()
    with page.expect_response(lambda response: urlsplit(response.url).path == "/v1/talks") as called:
        talks.locator("button.execute").click()
    assert called.value.server_addr()["port"] == urlsplit(live_server).port
    status = talks.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200", talks.locator(".request-url").inner_text()
    body = talks.locator(".live-responses-table .microlight").first
    assert '"id": "geneva-strategic-stability-2022-01-10"' in body.inner_text()
    assert page.problems == []

    # The request and the response body in the frame; the response headers below it hold the clock.
    talks.locator(".responses-wrapper").evaluate("element => element.scrollIntoView()")
    bottom = body.bounding_box()
    screenshot(page, "docs.png", clip={"x": 0, "y": 0, "width": 1280, "height": bottom["y"] + bottom["height"] + 8})


def test_the_landing_page_says_what_this_is_and_every_link_answers(page, live_server):
    page.goto(live_server + "/")
    assert "diplomatic draft proposals" in page.locator("body").inner_text()
    links = {link.get_attribute("href") for link in page.query_selector_all("a")}
    assert {"/docs", "/v1/openapi.json", "/v1/export", "/v1/sources", "/explore/"} <= links
    for href in links:
        assert page.request.get(live_server + href).status == 200, href
    assert page.problems == []


LINKS_AND_IDS = """() => [
  [...document.querySelectorAll("a[href]")].map(link => link.getAttribute("href")),
  [...document.querySelectorAll("[id]")].map(element => element.id),
]"""


def crawl_explorer(page: Page, base: str, start: str = "/explore/") -> dict[str, set[str]]:
    """Opens every explorer page reachable from `start` in the browser and checks every link on each.

    Explorer pages must load with no console error; any other link on this site must answer below
    400; a `#fragment` must name an element of its page. Returns the links found, by page.
    """
    found: dict[str, set[str]] = {}
    queue = [start]
    while queue:
        path = queue.pop()
        if path in found:
            continue
        answer = page.goto(base + path)
        assert answer.status == 200, path
        assert page.problems == [], (path, page.problems)
        hrefs, ids = page.evaluate(LINKS_AND_IDS)
        found[path] = hrefs = set(hrefs)
        for href in hrefs:
            if href.startswith("#"):
                assert ids.count(href[1:]) == 1, (path, href)
                continue
            target = urlsplit(urljoin(base + path, href))
            if f"{target.scheme}://{target.netloc}" != base:
                continue  # a source's own address: outside this test's reach, and offline here
            local = target.path + (f"?{target.query}" if target.query else "")
            if target.path.startswith("/explore/"):
                queue.append(local)
            elif local not in found:
                found[local] = set()
                assert page.request.get(base + local).status < 400, (path, href)
        assert len(found) < 1000, "the explorer links without end"
    return {path: hrefs for path, hrefs in found.items() if path.startswith("/explore/")}


def test_every_explorer_page_loads_cleanly_and_every_link_answers(page, live_server):
    pages = crawl_explorer(page, live_server)
    assert {
        "/explore/",
        "/explore/timeline",
        "/explore/proposals/us-russia-security-treaty",
        "/explore/proposals/us-russia-security-treaty/history",
        "/explore/clauses/us-russia-security-treaty-article-5/history",
        "/explore/talks/geneva-strategic-stability-2022-01-10/history",
        "/explore/talks/geneva-strategic-stability-2022-01-10/history?from=1&to=2",
    } <= set(pages)
    assert "/v1/proposals/us-russia-security-treaty" in pages["/explore/proposals/us-russia-security-treaty"]


def test_a_proposal_shows_its_clauses_beside_the_quoted_words_and_its_sources(page, live_server):
    page.goto(f"{live_server}/explore/")
    page.click("text=Treaty between the United States of America and the Russian Federation on Security Guarantees")
    page.wait_for_url("**/explore/proposals/us-russia-security-treaty")
    assert page.locator("#clauses tr[id]").count() == 8
    article_5 = page.locator("tr#us-russia-security-treaty-article-5")
    summary, quoted = article_5.locator("td").nth(1), article_5.locator("td").nth(2)
    assert summary.inner_text().startswith("Each side keeps its forces")
    assert "The Parties shall refrain from deploying their armed forces" in quoted.inner_text()
    # Side by side: the quote sits to the right of the summary, on the same row.
    assert quoted.bounding_box()["x"] > summary.bounding_box()["x"] + summary.bounding_box()["width"] - 1
    quoted.locator("a").first.click()
    assert page.url.endswith("#source-sputnik-lavrov-security-guarantees")
    assert page.locator("#source-sputnik-lavrov-security-guarantees").is_visible()
    assert page.problems == []
    page.goto(f"{live_server}/explore/proposals/us-russia-security-treaty")
    screenshot(page, "explorer-proposal.png")


def test_the_timeline_puts_talks_and_statements_in_date_order(page, live_server):
    page.goto(f"{live_server}/explore/timeline")
    assert page.locator("#timeline tr.talk").count() == 7
    assert page.locator("#timeline tr.statement").count() >= 5
    first_talk = page.locator("#timeline tr.talk").first.inner_text()
    assert "2021-12-30" in first_talk and "Telephone conversation between Presidents Putin and Biden" in first_talk
    assert page.problems == []
    screenshot(page, "explorer-timeline.png")


def test_the_history_page_compares_two_revisions(page, live_server):
    page.goto(f"{live_server}/explore/timeline")
    page.locator('#timeline tr.talk a[href$="/talks/geneva-strategic-stability-2022-01-10/history"]').click()
    page.wait_for_selector("#diff")  # the latest two revisions: the summary gained the working dinner
    page.select_option("#compare select[name=from]", "1")
    page.select_option("#compare select[name=to]", "2")
    page.click("#compare button")
    page.wait_for_url("**/history?from=1&to=2")
    status = page.locator("#diff tr").filter(has=page.get_by_role("cell", name="status", exact=True))
    assert status.locator("td.before").inner_text() == "scheduled"
    assert status.locator("td.after").inner_text() == "held"

    page.select_option("#compare select[name=from]", "2")
    page.click("#compare button")
    page.wait_for_url("**/history?from=2&to=2")
    assert page.locator("#diff").count() == 0 and "nothing to compare" in page.locator("main").inner_text()

    assert page.problems == []
    page.goto(f"{live_server}/explore/talks/geneva-strategic-stability-2022-01-10/history")
    screenshot(page, "explorer-diff.png", full_page=True)
