"""Debian's chromium, headless, driven by Playwright: no browser download, a fresh profile each time."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, sync_playwright

#: Debian's package (``make test`` installs it as root); Playwright's own browsers are never fetched.
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    assert found, "chromium is missing: make test installs Debian's package (as root)"
    return found


@contextmanager
def chromium(profile: Path, width: int = 1280, height: int = 900) -> Iterator[BrowserContext]:
    """A headless chromium with a new user data dir at ``profile``, and a viewport of that size."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path(),
            args=ARGS,
            headless=True,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class Problems:
    """What a page reported going wrong: uncaught exceptions and console errors."""

    page_errors: list[Error] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("pageerror", self._page_error)
        page.on("console", self._console)
        return page

    def _page_error(self, error: Error) -> None:
        self.page_errors.append(error)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} at {message.location.get('url')}")

    def all(self) -> list[str]:
        return [str(error) for error in self.page_errors] + self.console_errors
