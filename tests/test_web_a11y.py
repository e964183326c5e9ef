"""Every page in Chromium (Debian's, driven by Playwright) in English and French: axe-core finds no
WCAG 2.1 A/AA violation, the whole flow works with the keyboard alone, and each page is saved as a
screenshot at 1280 and 390 px wide under test-output/screenshots/ for a reviewer to look at.

axe-core is the npm package (`make axe` installs it into node_modules/); it is injected into each
page, so the pages' Content-Security-Policy is bypassed for the test's script only.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from publisher.state import open_state
from publisher.subscribers import MANAGE, UNSUBSCRIBE
from publisher.tokens import make_token

from .conftest import REPO
from .digest_helpers import SECRET, subscribe
from .test_web_browser import browser, http_server
from .web_helpers import BASE, Web, confirm_link, web

__all__ = ["browser", "web"]  # fixtures, imported so pytest finds them here

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = REPO / "test-output" / "screenshots"
WIDTHS = {1280: 900, 390: 844}
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


@pytest.fixture
def axe() -> Path:
    if not AXE.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE} is missing; `make axe` installs axe-core with npm")
        pytest.skip(f"{AXE} is missing (`make axe` installs it with npm)")
    return AXE


@pytest.fixture(params=["en", "fr"])
def context(request: pytest.FixtureRequest, browser: Browser) -> Iterator[BrowserContext]:
    """A browser whose Accept-Language is English or French; the test's own script may run despite the CSP."""
    lang = request.param
    made = browser.new_context(locale="fr-FR" if lang == "fr" else "en-GB", bypass_csp=True)
    made.lang = lang  # type: ignore[attr-defined]
    yield made
    made.close()


def _check(page: Page, axe: Path, name: str) -> None:
    """No axe violation on this page; a screenshot of it at each width."""
    lang = page.evaluate("document.documentElement.lang")
    page.add_script_tag(path=str(axe))
    result = page.evaluate("rules => axe.run(document, {runOnly: {type: 'tag', values: rules}})", RULES)
    found = [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in result["violations"]]
    assert found == [], (name, lang, found)
    assert len(result["passes"]) > 10  # axe did look at the page
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{lang}-{width}.png"), full_page=True)


def _token(web: Web, purpose: str, address: str) -> str:
    with open_state(web.site.config.state) as store:
        found = store.subscribers.by_address(address)
        assert found is not None
        return make_token(SECRET.encode(), purpose, found.id, found.address)


def test_every_page_has_no_axe_violation_in_english_and_french(web: Web, context: BrowserContext, axe: Path) -> None:
    subscribe(web.site, ("ann@example.org", "Ann", ["ATT"]))
    lang = context.lang  # type: ignore[attr-defined]
    with http_server(web.app) as local:
        page = context.new_page()
        page.goto(local)
        expect(page.locator("html")).to_have_attribute("lang", lang)
        _check(page, axe, "01-front")
        page.goto(local + "?q=a")
        _check(page, axe, "02-search")
        page.goto(local + "tags/unpoa")
        _check(page, axe, "03-tag")
        page.locator("#email").fill("reader@example.org")
        with page.expect_navigation():
            page.locator("form.signup button").click()
        _check(page, axe, "04-check-inbox")
        web.send()
        page.goto(confirm_link(web.mail.messages()[0]).replace(BASE, local))
        _check(page, axe, "05-confirm")
        with page.expect_navigation():
            page.locator("main form button").click()
        _check(page, axe, "06-subscribed")
        page.goto(f"{local}manage?token={_token(web, MANAGE, 'ann@example.org')}")
        _check(page, axe, "07-manage")
        with page.expect_navigation():
            page.locator("section.danger button").click()
        _check(page, axe, "08-manage-unsubscribe-asks")
        page.goto(f"{local}unsubscribe?token={_token(web, UNSUBSCRIBE, 'ann@example.org')}")
        _check(page, axe, "09-unsubscribe")
        with page.expect_navigation():
            page.locator("main form button").click()
        _check(page, axe, "10-unsubscribed")
        page.goto(local + "no/such/page")
        _check(page, axe, "11-error-404")
        page.goto(local + "manage?token=1.forged")
        _check(page, axe, "12-error-bad-link")


def _tab_to(page: Page, name: str, limit: int = 80) -> None:
    """Press Tab until the focused element is called ``name`` (its text, label or value)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return ((e.labels && e.labels[0] && e.labels[0].innerText) || e.innerText || e.value || '').trim(); }"
        )
        if focused == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


def _status(web: Web, address: str) -> tuple[str, tuple[str, ...] | None]:
    with open_state(web.site.config.state) as store:
        found = store.subscribers.by_address(address)
        assert found is not None
        return found.status, found.tags


def test_the_whole_flow_works_with_the_keyboard_alone(web: Web, browser: Browser) -> None:
    with http_server(web.app) as local:
        page = browser.new_page()
        page.goto(local)
        _tab_to(page, "UNPoA")
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("UNPoA")
        _tab_to(page, "E-mail address")
        page.keyboard.type("keys@example.org")
        page.keyboard.press("Enter")  # sends the form
        expect(page.locator("h1")).to_have_text("Check your inbox")
        web.send()
        page.goto(confirm_link(web.mail.messages()[0]).replace(BASE, local))
        _tab_to(page, "Confirm")
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("You are subscribed")
        _tab_to(page, "Manage your subscription")
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Your subscription")
        _tab_to(page, "ATT")
        page.keyboard.press("Space")
        _tab_to(page, "Save")
        page.keyboard.press("Enter")
        expect(page.locator(".note")).to_have_text("Saved.")
        assert _status(web, "keys@example.org") == ("active", ("att", "unpoa"))
        _tab_to(page, "Unsubscribe from all")
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Unsubscribe")  # asks once more
        _tab_to(page, "Yes, unsubscribe from all")
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("You are unsubscribed")
        assert _status(web, "keys@example.org")[0] == "unsubscribed"


def test_a_reader_ticks_tags_and_downloads_their_opml_with_the_keyboard_alone(web: Web, browser: Browser) -> None:
    with http_server(web.app) as local:
        page = browser.new_page(accept_downloads=True)
        page.goto(local)
        for tag in ("ATT", "UNPoA"):
            _tab_to(page, f"Add “{tag}” to the OPML file")
            page.keyboard.press("Space")
        _tab_to(page, "Download an OPML file of the ticked tags")
        with page.expect_download() as download:
            page.keyboard.press("Enter")
        data = Path(download.value.path()).read_bytes()
    root = ET.fromstring(data)
    feeds = "https://news.example.org/blog/feeds/tags/"
    assert [o.get("xmlUrl") for o in root.iterfind("body/outline")] == [
        f"{feeds}att/atom.xml",
        f"{feeds}unpoa/atom.xml",
    ]
