"""Open a page from disk in real headless Chromium and report what a person would see.

Shared by the dashboard and audit-pack tests. Uses Debian's /usr/bin/chromium
(installed by scripts/install-system-packages.sh) through Playwright; never
downloads a browser.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dashboards.audit_pack.pdf import ARGS  # the flags Chromium runs offline with, once

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("HER2QA_TEST_ARTIFACTS", "test-artifacts"))


@dataclass
class PageReport:
    url: str
    title: str = ""
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    text: str = ""
    screenshot: Path | None = None
    page: Any = None  # the open Playwright page: callers query further, then close it


# The one browser of the session. Each test module imports the fixture, so pytest makes one
# "session" fixture per module; Playwright's sync API allows one running instance per thread,
# so the later ones reuse the first (which closes it when the session ends).
_SESSION: list = []


@pytest.fixture(scope="session")
def browser():
    if _SESSION:
        yield _SESSION[0]
        return
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "chromium is not installed: run `make setup` (scripts/install-system-packages.sh)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        _SESSION.append(b)
        try:
            yield b
        finally:
            _SESSION.clear()
            b.close()


def open_page(
    browser,
    path: Path,
    *,
    screenshot_name: str | None = None,
    settle_selector: str | None = None,
    timeout_ms: int = 30_000,
) -> PageReport:
    """Load a file:// page, wait for it to settle, and collect errors and requests."""
    url = path.resolve().as_uri()
    report = PageReport(url=url)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on(
        "console", lambda m: report.console_errors.append(m.text) if m.type == "error" else None
    )
    page.on("pageerror", lambda e: report.page_errors.append(str(e)))
    page.on("requestfailed", lambda r: report.failed_requests.append(r.url))
    page.on("dialog", lambda d: (report.dialogs.append(d.message), d.dismiss()))

    def on_request(request):
        if not request.url.startswith(("file://", "data:", "blob:", "about:")):
            report.external_requests.append(request.url)

    page.on("request", on_request)
    page.goto(url, wait_until="load", timeout=timeout_ms)
    if settle_selector:
        page.wait_for_selector(settle_selector, timeout=timeout_ms)
    page.wait_for_timeout(300)
    report.title = page.title()
    report.text = page.inner_text("body")
    if screenshot_name:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        report.screenshot = ARTIFACTS / f"{screenshot_name}.png"
        page.screenshot(path=str(report.screenshot), full_page=True)
    report.page = page
    return report
