"""A real headless Chromium driven by Playwright (REFERENCE.md: the system package, launched
with --no-sandbox; Playwright's own browser download cannot reach its host here).

Without a Chromium the browser tests skip and say how to install one; CI sets
RETOUCH_REQUIRE_BROWSER=1 (`.ci/run` installs the package), where a missing browser fails."""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from retouch_assets.settings import chromium_path

ENV_REQUIRE_BROWSER = "RETOUCH_REQUIRE_BROWSER"


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = chromium_path()
    if path is None:
        message = (
            "no Chromium on PATH (RETOUCH_CHROMIUM unset). Fix: `apt-get install chromium` "
            "(Debian) or set RETOUCH_CHROMIUM to a Chromium/Chrome binary"
        )
        if os.environ.get(ENV_REQUIRE_BROWSER):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def browser(chromium_executable):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Probe:
    """A page and what went wrong on it: console errors, uncaught script errors, and requests
    that failed or left the machine (a report must open offline)."""

    page: object
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return self.console_errors + self.page_errors + self.failed_requests


@pytest.fixture
def probe(browser) -> Iterator[Probe]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    found = Probe(page)
    page.on(
        "console",
        lambda m: (
            found.console_errors.append(f"console {m.type}: {m.text}")
            if m.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda e: found.page_errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: found.failed_requests.append(f"request failed: {r.url}"))
    yield found
    context.close()
