"""Browser tests: Playwright driving Debian's chromium (/usr/bin/chromium, installed by
bin/test-setup-browser; Playwright's own browser download does not work here) against pytest-django's
live server. The tests skip, with the reason printed, when chromium or the playwright package is
missing.

Screenshots are kept under test-artifacts/workspace/ (gitignored; CI keeps them as artifacts)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("ACCORD_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "workspace"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Chromium:
    """Headless chromium, launched on first use inside the test.

    Playwright's sync API keeps an event loop running in this thread. Django then (a) refuses ORM
    calls as "async unsafe" and (b) hands out other connection objects (asgiref's context-local
    storage), which would miss the test database's serialized contents. So the browser starts
    only once the test's fixtures have written their data, the async-safety check is relaxed
    only while it runs, and it stops before the test database is flushed."""

    def __init__(self):
        self._manager = None
        self._browser = None
        self._previous_env: str | None = None

    def get(self):
        if self._browser is None:
            sync_api = pytest.importorskip(
                "playwright.sync_api", reason="the playwright package is not installed"
            )
            if not CHROMIUM.exists():
                pytest.skip(f"no chromium at {CHROMIUM} (bin/test-setup-browser installs it)")
            self._previous_env = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
            self._manager = sync_api.sync_playwright()
            playwright = self._manager.__enter__()
            self._browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
            )
        return self._browser

    def stop(self) -> None:
        if self._manager is None:
            return
        from django.db import connections

        # The connections the test opened while the browser ran belong to that context: close them,
        # or PostgreSQL cannot drop the test database at the end.
        connections.close_all()
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            self._manager.__exit__(None, None, None)
            self._manager = self._browser = None
            if self._previous_env is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = self._previous_env


class Session:
    """One browser context (a person's session) with its page, and what went wrong in it:
    console errors, uncaught page errors, dialogs (alert/confirm/prompt)."""

    def __init__(self, browser, base_url: str, name: str):
        self.base_url = base_url
        self.name = name
        self.context = browser.new_context(base_url=base_url, viewport={"width": 1366, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on(
            "console", lambda message: message.type == "error" and self.console_errors.append(message.text)
        )
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def log_in(self, username: str, password: str = "pw-for-tests-1") -> None:
        self.page.goto("/")
        assert "/login/" in self.page.url
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("button:has-text('Log in')")
        self.page.wait_for_url(self.base_url + "/")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self) -> None:
        assert self.console_errors == [], self.console_errors
        assert self.page_errors == [], self.page_errors
        assert self.dialogs == [], self.dialogs

    def close(self) -> None:
        self.context.close()


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    """The role groups a data migration created: a transactional test before this one flushed the
    tables (serialized rollback cannot restore them reliably once another flush re-created the
    content types). The workspace reads roles by group name, so the groups are enough."""
    from django.contrib.auth.models import Group

    from cases.choices import Role

    for role in Role.values:
        Group.objects.get_or_create(name=role)


@pytest.fixture
def open_session(live_server, settings):
    """`open_session(name)` -> a fresh browser session (context and page) on the live server. Call it
    in the test body, after the test's data exists (see `Chromium`)."""
    # The live server speaks plain HTTP: cookies must not require HTTPS here.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    chromium = Chromium()
    sessions: list[Session] = []

    def _open(name: str) -> Session:
        session = Session(chromium.get(), live_server.url, name)
        sessions.append(session)
        return session

    yield _open
    try:
        for session in sessions:
            session.close()
    finally:
        chromium.stop()
