"""Browser tests: the real app under gunicorn, driven by Playwright in Debian's Chromium.

Playwright is pointed at /usr/bin/chromium (or $CHROMIUM_PATH); it downloads no browser.
Without Chromium these tests skip with a reason, except in CI (CI=true), where they fail.
They run in the SQLite pass of `make test` only: the server has its own database anyway.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest

from tests import dbutil
from tests.helpers import KNOWN_TOTP_SECRET
from tests.servers import ROOT, Gunicorn, flask_command, server_environment

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
VNU = ROOT / "build" / "tools" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
SCREENSHOTS = ROOT / "build" / "screenshots"
PASSWORD = "browser tests passphrase 7"
# The accessibility standard every page is held to.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _browser_tests_can_run() -> None:
    if dbutil.backend() != "sqlite":
        pytest.skip("browser tests run once, in the SQLite pass of the suite")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM}: install Debian's chromium package")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch, with Debian's Chromium instead of a downloaded one."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


@dataclass
class Site:
    """The portal as served for the browser tests, with the people the journeys use."""

    url: str
    instance: Path
    people: dict[str, str] = field(default_factory=dict)  # role -> email
    env: dict[str, str] = field(default_factory=dict)  # the server's, for `flask` commands

    def flask(self, *args: str) -> str:
        """Run `flask --app portal ARGS` against this site's database."""
        return flask_command(self.env, *args)

    def new_customer(self, name: str = "Nadia New") -> str:
        """A confirmed account nobody has used yet, made as an operator would; its address."""
        email = f"new-{uuid.uuid4().hex[:10]}@freelance.example"
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "portal", "user", "create", email,
             "--name", name, "--password-stdin"],
            input=PASSWORD + "\n", cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return email

    def emails_to(self, address: str) -> list:
        folder = self.instance / "mail" / "outbox"
        found = []
        for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["To"] == address:
                found.append(message)
        return found


@contextlib.contextmanager
def serve_demo_site(
    folder: Path, name: str, *, password: str = PASSWORD, workers: int = 2, **settings: str
) -> Iterator[Site]:
    """The demo data in a migrated file database of its own, served by gunicorn.

    Email is written to instance/mail/outbox/ by a background thread. `settings` are more
    PORTAL_ environment variables (FORM_MIN_SECONDS="0", ...).
    """
    instance = folder / "instance"
    env = server_environment(
        PORTAL_INSTANCE_PATH=str(instance),
        DATABASE_URL=f"sqlite:///{folder / 'portal.sqlite3'}",
        PORTAL_DEMO_PASSWORD=password,
        PORTAL_MAIL_DELIVERY="thread",
        PORTAL_MAIL_SWEEP_SECONDS="1",
        **{f"PORTAL_{key}": value for key, value in settings.items()},
    )
    flask_command(env, "db", "upgrade")
    flask_command(env, "demo", "load", "--quiet")
    enrol_admins_in_two_factor(folder / "portal.sqlite3")
    server = Gunicorn(name, env, folder, workers=workers, threads=4)
    server.env = {**env, "PORTAL_BASE_URL": json.dumps(server.url)}
    server.start()
    try:
        server.wait_until_serving()
        yield Site(url=server.url, instance=instance, people=_demo_people(), env=server.env)
    finally:
        server.stop()


def enrol_admins_in_two_factor(database: Path) -> None:
    """The demo admins sign in with a code, as every admin must: enrol them with a secret the
    tests know (KNOWN_TOTP_SECRET), as if they had set it up, so pass_two_factor can type it."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "UPDATE users SET totp_secret = ?, totp_enabled_at = ? WHERE role = 'admin'",
            (KNOWN_TOTP_SECRET, now),
        )


_last_steps: dict[tuple[str, str], int] = {}


def pass_two_factor(page, email: str) -> None:
    """After pressing Sign in: when the portal asks for a code, type a real one from the
    person's known secret, never one this process used before (each code works once)."""
    page.wait_for_load_state()
    if urlsplit(page.url).path != "/sign-in/two-factor":
        return
    page.get_by_label("Code", exact=True).fill(known_code(page.url, email))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def known_code(url: str, email: str) -> str:
    """A real code from the known secret that this process has not used yet for this person on
    this site (each code works once)."""
    key = (urlsplit(url).netloc, email)
    step = max(int(time.time()) // 30 - 1, _last_steps.get(key, 0) + 1)
    while step > int(time.time()) // 30 + 1:  # this minute's codes are used: the next one
        time.sleep(1)
    _last_steps[key] = step
    return pyotp.TOTP(KNOWN_TOTP_SECRET).at(step * 30)


@pytest.fixture(scope="session")
def site(tmp_path_factory, worker_id) -> Iterator[Site]:
    """The demo data and one person per role, served by gunicorn for the journeys."""
    with serve_demo_site(
        tmp_path_factory.mktemp(f"browser-site-{worker_id}"),
        "browser",
        # Machines fill forms faster than the minimum time that stops bots. Every limit is
        # left at its default: the journeys are normal use, and normal use never meets one.
        FORM_MIN_SECONDS="0",
    ) as served:
        yield served


@pytest.fixture(scope="session")
def base_url(site) -> str:
    """pytest-playwright opens relative paths on this: page.goto("/ideas/new")."""
    return site.url


def _demo_people() -> dict[str, str]:
    from portal.demo import PEOPLE

    people: dict[str, str] = {}
    for email, _name, role in PEOPLE:
        people.setdefault(str(getattr(role, "value", role)), email)
    return people


# --- Checks on every page a journey visits ---------------------------------------------------


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


@dataclass
class PageChecks:
    """axe-core on each page as it is shown; the Nu HTML checker on all of them at the end."""

    folder: Path
    pages: dict[str, Path] = field(default_factory=dict)

    def check(self, page, label: str | None = None) -> None:
        label = label or page.url
        # Evaluated through the DevTools protocol, which the page's CSP does not govern; a
        # <script> tag would be refused, as it should be.
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(_axe_source())
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
        )
        violations = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(node["target"]) for node in v["nodes"][:5])
            for v in result["violations"]
        ]
        assert not violations, f"axe on {label}:\n" + "\n".join(violations)
        path = self.folder / f"page-{len(self.pages):03d}.html"
        # The document as the browser holds it (scripts' additions included), with its doctype.
        path.write_text(page.content(), encoding="utf-8")
        self.pages[label] = path

    def validate_html(self) -> None:
        if not self.pages:
            return
        if not VNU.exists():
            _unavailable(f"no Nu HTML checker at {VNU}: `make test` installs it with npm")
        java = shutil.which("java")
        if java is None:
            _unavailable("no java to run the Nu HTML checker")
        files = [str(path) for path in self.pages.values()]
        # Quicker start-up for a short run: half the time of plain `java -jar`.
        quick = ["-XX:TieredStopAtLevel=1", "-Xss4m"]
        result = subprocess.run(
            [java, *quick, "-jar", str(VNU), "--errors-only", "--format", "json", *files],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        messages = json.loads(result.stderr or result.stdout or '{"messages": []}')["messages"]
        names = {str(path): label for label, path in self.pages.items()}
        errors = [
            f"{names.get(m.get('url', '').removeprefix('file:'), m.get('url'))}: "
            f"line {m.get('lastLine')}: {m['message']}"
            for m in messages
            if m.get("type") == "error"
        ]
        self.pages.clear()  # checked: the fixture's teardown has nothing left to do
        assert not errors, "Nu HTML checker:\n" + "\n".join(errors)


@pytest.fixture
def checks(tmp_path) -> Iterator[PageChecks]:
    checker = PageChecks(tmp_path)
    yield checker
    checker.validate_html()
