"""report.pdf: the report printed by headless Chromium (Playwright driving Debian's
/usr/bin/chromium; never a downloaded browser). Network requests are refused while printing:
the report needs none, and a pack must not depend on one."""

from __future__ import annotations

import html
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dashboards.audit_pack.compute import AuditError

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """``HER2QA_CHROMIUM``, else ``chromium`` on PATH, else /usr/bin/chromium."""
    path = os.environ.get("HER2QA_CHROMIUM", "").strip() or shutil.which("chromium")
    path = path or "/usr/bin/chromium"
    if not Path(path).exists():
        raise AuditError(
            f"cannot print report.pdf: chromium not found at {path} (install it with "
            "scripts/install-system-packages.sh, or set HER2QA_CHROMIUM)"
        )
    return path


def print_pdf(html_file: Path, pdf_file: Path, *, footer: str) -> None:
    """Print ``html_file`` to ``pdf_file`` (A4, backgrounds, page numbers in the footer).

    Printed from a worker thread: Playwright's sync API refuses a thread whose asyncio loop
    is running (a notebook, an async caller, a test session's own browser)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="her2qa-pdf") as pool:
        pool.submit(_print, html_file, pdf_file, footer).result()


def _print(html_file: Path, pdf_file: Path, footer: str) -> None:
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover (playwright is pinned in requirements.lock)
        raise AuditError("cannot print report.pdf: the playwright package is missing") from None
    footer_html = (
        '<div style="font-size:7pt;color:#555;width:100%;padding:0 14mm;display:flex;'
        'justify-content:space-between"><span>' + html.escape(footer) + "</span>"
        '<span>page <span class="pageNumber"></span> of '
        '<span class="totalPages"></span></span></div>'
    )
    tmp = pdf_file.with_suffix(".pdf.part")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=ARGS)
            try:
                page = browser.new_page()
                page.route(
                    "**/*",
                    lambda route: (
                        route.continue_()
                        if route.request.url.startswith(("file:", "data:", "about:"))
                        else route.abort()
                    ),
                )
                page.goto(html_file.resolve().as_uri(), wait_until="load")
                page.emulate_media(media="print")
                page.pdf(
                    path=str(tmp),
                    format="A4",
                    print_background=True,
                    display_header_footer=True,
                    header_template="<span></span>",
                    footer_template=footer_html,
                    margin={"top": "14mm", "bottom": "18mm", "left": "12mm", "right": "12mm"},
                )
            finally:
                browser.close()
    except PlaywrightError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AuditError(f"cannot print report.pdf with chromium: {first}") from None
    os.replace(tmp, pdf_file)
