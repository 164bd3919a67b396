"""Real Chromium (Debian's, at /usr/bin/chromium) driven by Playwright against pytest-django's
live server on PostgreSQL. A missing browser fails the run with a message; it never skips.

Playwright's sync API keeps an asyncio loop running in the test thread while the browser is
open. Django then takes the test's own (synchronous) queries for async code: its guard needs
DJANGO_ALLOW_ASYNC_UNSAFE, and its connection handler hands out other connection objects than
the ones pytest-django set up. So the browser is started per test, after the test database and
world are ready, and stopped (with those extra connections closed) before the database is
flushed; otherwise the flush would re-create content types over the next test's restored data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from tests.ui.world import UiWorld, build_ui_world, password

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("UI_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"
# WCAG 2.2 AA, the level NHS services must meet (axe's tags for it and the levels below).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _launch(driver: Playwright) -> Browser:
    # --no-sandbox: the suite runs as root in CI, where Chromium's sandbox refuses to start.
    return driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"])


@pytest.fixture
def ui_settings(settings: Settings) -> Settings:
    # The live server speaks plain HTTP; production keeps its secure cookies.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    return settings


@pytest.fixture
def world(transactional_db: None) -> UiWorld:
    return build_ui_world()


class Pages:
    """Opens pages in fresh browser contexts (one per user), and collects their script errors."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.errors: list[str] = []
        self.contexts: list[Any] = []

    def new(self, *, width: int = 1280, height: int = 800) -> Page:
        context = self.browser.new_context(
            base_url=self.base_url,
            viewport={"width": width, "height": height},
            locale="en-GB",
            timezone_id="Europe/London",
        )
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

    def logged_in(self, username: str, **size: int) -> Page:
        page = self.new(**size)
        login(page, username)
        return page

    def close(self) -> None:
        # Let every request the pages started be answered before the test's tables are flushed: a
        # request the live server is still working on would write into the next test's database.
        for context in self.contexts:
            for page in context.pages:
                page.wait_for_load_state("networkidle")
                page.goto("about:blank")
            context.close()


@pytest.fixture
def pages(world: UiWorld, live_server: LiveServer, ui_settings: Settings) -> Iterator[Pages]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}. The browser tests need it: `make test` installs it "
            "(scripts/browser.sh runs `apt-get install -y chromium`), or set UI_CHROMIUM to a Chromium binary.",
            pytrace=False,
        )
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as driver:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = _launch(driver)
        opened = Pages(browser, live_server.url)
        try:
            yield opened
            opened.close()
        finally:
            browser.close()
            connections.close_all()  # the ones the test's queries opened while the loop ran
    assert not opened.errors, f"JavaScript errors on the pages: {opened.errors}"


def login(page: Page, username: str, *, next_path: str = "/") -> None:
    """Log in through the login page by typing, as a person would."""
    page.goto(next_path)
    page.wait_for_url(re.compile(r"/login/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password(username))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"^(?!.*/login/)"))


def ready(page: Page, name: str) -> None:
    """Wait until the page's module has drawn it (it sets body[data-ready])."""
    page.wait_for_selector(f"body[data-ready='{name}']")


def check_accessibility(page: Page) -> None:
    """axe-core on the page as drawn: no serious or critical WCAG 2.2 AA violation."""
    # Evaluated through the DevTools protocol, not as a <script> tag: the UI's Content-Security-
    # Policy forbids inline script, and the test tool must not need the policy loosened.
    session = page.context.new_cdp_session(page)
    session.send("Runtime.evaluate", {"expression": AXE.read_text(encoding="utf-8")})
    session.detach()
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"axe found serious or critical violations on {page.url}:\n" + "\n".join(bad)


def screenshot(page: Page, name: str) -> Path:
    """Saved as a test artefact under var/screenshots/ (README's copies live in docs/)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
