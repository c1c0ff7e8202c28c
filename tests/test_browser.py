"""The docs page and the explorer in a real browser: Debian's headless Chromium, driven by
Playwright against the production server. No browser is downloaded: when /usr/bin/chromium is
missing the tests install Debian's package if they can (root with apt-get), else skip and say why.

Screenshots are saved as test artifacts in test-artifacts/screenshots/ (not committed: the pages
show the time of the run); docs/screenshots/ holds copies from one run, which the README shows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# As the machine's notes advise: without the background-networking switches Chromium keeps
# trying to reach Google's hosts, which this closed network refuses.
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
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        installed = subprocess.run(
            "apt-get update -qq && apt-get install -y -qq chromium",
            shell=True,
            env=env,
            capture_output=True,
            check=False,
        )
        if installed.returncode == 0 and os.path.exists(CHROMIUM):
            return CHROMIUM
        pytest.skip(f"Debian's chromium could not be installed: {installed.stderr.decode()[-300:]}")
    pytest.skip("no /usr/bin/chromium, and apt-get is not available to a root user here to install it")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    executable = chromium_or_skip()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors and uncaught exceptions."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("requestfailed", lambda request: page.problems.append(f"failed: {request.url}"))
    yield page
    context.close()


def test_the_docs_page_lists_every_operation_and_tries_one_out(page, live_server):
    page.goto(f"{live_server}/docs", wait_until="networkidle")
    page.wait_for_selector(".opblock")
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    operations = {
        (method.upper(), path) for path, item in spec["paths"].items() for method in item if method != "parameters"
    }
    shown = {
        (
            block.query_selector(".opblock-summary-method").inner_text(),
            block.query_selector(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in page.query_selector_all(".opblock")
    }
    assert shown == operations

    talks = page.locator("#operations-talks-listTalks")
    talks.locator(".opblock-summary").click()
    talks.locator("button.try-out__btn").click()
    talks.locator("button.execute").click()
    response = talks.locator(".live-responses-table tr.response .response-col_status").first
    response.wait_for()
    assert response.inner_text().strip().startswith("200"), talks.locator(".request-url").inner_text()
    body = talks.locator(".live-responses-table .microlight").first.inner_text()
    assert "geneva-strategic-stability-2022-01-10" in body
    page.screenshot(path=str(SCREENSHOTS / "docs.png"))
    assert page.problems == []


def test_the_landing_page_links_to_everything(page, live_server):
    page.goto(live_server + "/")
    links = {link.get_attribute("href") for link in page.query_selector_all("a")}
    assert {"/docs", "/v1/openapi.json", "/v1/export", "/v1/sources", "/explore/"} <= links
    assert page.problems == []


def visit_every_link(page, base: str, start: str) -> set[str]:
    """Follows every same-site link on `start` and asserts each answers below 400."""
    page.goto(base + start)
    hrefs = {link.get_attribute("href") for link in page.query_selector_all("a[href^='/'], a[href^='?']")}
    for href in sorted(hrefs):
        target = base + start.split("?")[0] + href if href.startswith("?") else base + href
        answer = page.request.get(target)
        assert answer.status < 400, (start, href, answer.status)
    return hrefs


def test_the_explorer_shows_a_proposal_side_by_side(page, live_server):
    page.goto(f"{live_server}/explore/")
    page.click("text=Treaty between the United States of America and the Russian Federation on Security Guarantees")
    page.wait_for_selector("#clauses")
    article_5 = page.locator("tr#us-russia-security-treaty-article-5")
    assert "Article 5" in article_5.inner_text()
    assert article_5.locator("blockquote").count() >= 1
    assert page.locator("#sources li").count() >= 1
    links = visit_every_link(page, live_server, "/explore/proposals/us-russia-security-treaty")
    assert "/explore/proposals/us-russia-security-treaty/history" in links
    page.goto(f"{live_server}/explore/proposals/us-russia-security-treaty")
    page.screenshot(path=str(SCREENSHOTS / "explorer-proposal.png"), full_page=False)
    assert page.problems == []


def test_the_explorer_timeline_and_a_readable_diff(page, live_server):
    visit_every_link(page, live_server, "/explore/timeline")
    page.goto(f"{live_server}/explore/timeline")
    assert page.locator("#timeline tr.talk").count() == 4
    assert page.locator("#timeline tr.statement").count() >= 5
    page.screenshot(path=str(SCREENSHOTS / "explorer-timeline.png"))

    page.click("tr.talk >> nth=1 >> text=history")
    page.wait_for_selector("#diff")
    diff = page.locator("#diff").inner_text()
    assert "status" in diff and "held" in diff and "scheduled" in diff
    visit_every_link(page, live_server, "/explore/talks/geneva-strategic-stability-2022-01-10/history")
    page.goto(f"{live_server}/explore/talks/geneva-strategic-stability-2022-01-10/history")
    page.screenshot(path=str(SCREENSHOTS / "explorer-diff.png"), full_page=True)
    assert page.problems == []
