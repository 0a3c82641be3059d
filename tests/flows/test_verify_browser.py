"""The hosted verification page in a real browser (issue 14, item 6): a person opens the
session's link in headless Chromium and completes the page, as verified or as failed, while
`verify_identity` waits on the session; the flow finishes with what the person chose.

One browser serves the module (tests/chromium.py: Debian's chromium and chromedriver,
loopback only, every process ended by pid at the end). Without them the module skips, or
fails under CI.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from chromium import Chromium, alive, require_chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from prefect_stripe_identity import StripeIdentityClient, StripeIdentityCredentials
from prefect_stripe_identity.emulator import EmulatorServer
from prefect_stripe_identity.flows import verify_identity

pytestmark = pytest.mark.usefixtures("prefect_engine")

KEY = "sk_test_browserPerson0001"
FAST: dict[str, Any] = {
    "poll_interval_seconds": 0.1,
    "max_poll_interval_seconds": 0.3,
    "redaction_deployment": None,
    "timeout": timedelta(seconds=60),
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    require_chromium()
    chromium = Chromium(1024, 768)
    try:
        yield chromium
    finally:
        chromium.quit()  # raises if a browser process outlived it
        assert not [pid for pid in chromium.pids if alive(pid)]


class Person(threading.Thread):
    """Waits for the session made for ``reference`` to wait for input, reads its hosted
    ``url`` from the API (as the app that sends the link would) and hands it to ``act``,
    which drives the browser. What ``act`` returns, or raises, is kept for the test."""

    def __init__(
        self, emulator: EmulatorServer, reference: str, act: Callable[[str], dict[str, Any]]
    ) -> None:
        super().__init__(daemon=True)
        self.api_base, self.reference, self.act = emulator.url, reference, act
        self.seen: dict[str, Any] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.seen = self.act(self.link())
        except BaseException as exc:  # reported by finish(), in the test's thread
            self.error = exc

    def link(self) -> str:
        deadline = time.monotonic() + 30
        with StripeIdentityClient(KEY, api_base=self.api_base) as client:
            while time.monotonic() < deadline:
                page = client.verification_sessions.list(client_reference_id=self.reference)
                session = page.data[0] if page.data else None
                if session and session.status == "requires_input" and session.url:
                    return session.url.get_secret_value()
                time.sleep(0.05)
        raise TimeoutError(f"no session for {self.reference} waited for input")

    def finish(self) -> dict[str, Any]:
        self.join(timeout=30)
        assert not self.is_alive(), "the person's browser thread did not finish"
        if self.error is not None:
            raise self.error
        return self.seen


def complete(browser: Chromium, url: str, outcome: str, error_code: str | None = None) -> Any:
    """Open the hosted page, check what it shows, choose ``outcome`` and submit."""
    driver = browser.driver
    driver.get(url)
    shown = {
        "title": driver.title,
        "heading": driver.find_element(By.TAG_NAME, "h1").text,
        "session": driver.find_element(By.CSS_SELECTOR, "dd code").text,
        "status": driver.find_element(By.ID, "status").text,
        "page": driver.find_element(By.TAG_NAME, "body").text,
    }
    form = driver.find_element(By.TAG_NAME, "html")
    if outcome == "verified":
        driver.find_element(By.CSS_SELECTOR, "button.verify").click()
    else:
        assert error_code is not None
        Select(driver.find_element(By.NAME, "error_code")).select_by_value(error_code)
        driver.find_element(By.CSS_SELECTOR, "button.fail").click()
    # The click returns before the answer loads: wait until the form's page is gone.
    WebDriverWait(driver, 20).until(expected_conditions.staleness_of(form))
    shown["after"] = driver.find_element(By.TAG_NAME, "h1").text
    shown["after_status"] = driver.find_element(By.ID, "status").text
    # The link was single-use: opening it again shows that it is no longer valid.
    driver.get(url)
    shown["reopened"] = driver.find_element(By.TAG_NAME, "h1").text
    return shown


def test_a_person_verified_in_the_browser(
    browser: Chromium, credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    person = Person(emulator, "browser-1", lambda url: complete(browser, url, "verified"))
    person.start()
    outcome = verify_identity(credentials, client_reference_id="browser-1", **FAST)
    shown = person.finish()

    assert shown["title"] == "Verify your identity (test mode)"
    assert shown["session"] == outcome.session_id
    assert shown["status"] == "requires_input"
    assert "TEST MODE" in shown["page"] and KEY not in shown["page"]
    assert shown["after"] == "Thanks, your verification was submitted"
    assert shown["after_status"] == "processing"
    assert shown["reopened"] == "This link is invalid or has expired"

    assert outcome.status == "verified" and outcome.verified and not outcome.timed_out
    assert outcome.failed_attempts == [] and outcome.last_error_code is None
    assert outcome.report_id and outcome.checks["document"].status == "verified"


def test_a_person_who_fails_in_the_browser(
    browser: Chromium, credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    person = Person(
        emulator,
        "browser-2",
        lambda url: complete(browser, url, "unverified", "document_expired"),
    )
    person.start()
    outcome = verify_identity(
        credentials, client_reference_id="browser-2", stop_on_failure=True, **FAST
    )
    shown = person.finish()

    assert shown["session"] == outcome.session_id
    assert shown["after"] == "Thanks, your verification was submitted"
    assert shown["reopened"] == "This link is invalid or has expired"

    assert not outcome.verified and not outcome.timed_out
    assert outcome.status == "requires_input"
    assert outcome.last_error_code == "document_expired"
    assert outcome.failed_attempts == ["document_expired"]
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        session = client.verification_sessions.retrieve(outcome.session_id)
    assert session.status == "requires_input"
    assert session.last_error is not None and session.last_error.code == "document_expired"
