"""Screenshots of the hosted verification page and of the Prefect UI, for the docs.

    make screenshots          # or: .venv/bin/python scripts/screenshots.py [OUT_DIR]

What a user of docs/no-code.md does, on a fresh machine and with no Python written:

1. start a Prefect server (``prefect server start``, a free loopback port, a throw-away
   ``PREFECT_HOME``: the user's own profile and database are never touched) and the
   Stripe Identity emulator;
2. save the ``stripe-identity`` credentials block, create the ``stripe-identity`` work
   pool and ``prefect deploy`` flows/prefect.yaml;
3. in the UI (headless Chromium), open the verify-identity deployment's run form, pick
   the block, type the person's reference and submit it; a worker runs the flow;
4. open the person's link (what the link notification would send) and verify;
5. once the run has finished, open its logs and its artifact.

It saves ``verify-form.png``, ``hosted-page.png``, ``flow-run-logs.png`` and
``flow-run-artifact.png`` (256-colour PNGs, small enough to commit) in docs/images/ or
OUT_DIR. Everything it starts listens on 127.0.0.1 and is stopped by pid at the end,
on failure too. It takes about two minutes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/chromium.py: the browser the tests use

from chromium import Chromium, alive, require_chromium  # noqa: E402

IMAGES = ROOT / "docs" / "images"
PREFECT_YAML = ROOT / "flows" / "prefect.yaml"
DEPLOYMENT = "verify-identity/verify-identity"
PERSON = "user-42"
# The emulator takes any test key; this one is fake and never leaves the machine.
API_KEY = "sk_test_screenshots"
PREFECT = [sys.executable, "-m", "prefect"]  # this venv's Prefect CLI
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60) -> T:
    """``check()``'s first truthy answer, polled until ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            answer = check()
            if answer:
                return answer
        time.sleep(0.25)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


class Process:
    """A command of ours in a process group of its own, its output in ``log``; `stop`
    ends the group by its id and checks that every process of it is gone."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.name, self.log = name, log
        self._out: IO[bytes] = log.open("wb")
        self.popen = subprocess.Popen(  # noqa: S603 (our venv's own commands, fixed arguments)
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def group(self) -> set[int]:
        found = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(stat[2]) == self.popen.pid:  # pgrp
                        found.add(int(entry.name))
        return found

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> None:
        members = self.group() | {self.popen.pid}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
            deadline = time.monotonic() + timeout
            while any(alive(p) for p in members) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not any(alive(p) for p in members):
                break
        self._out.close()
        left = sorted(p for p in members if alive(p))
        if left:
            raise RuntimeError(f"{self.name}: processes {left} outlived SIGKILL")


def shrink(path: Path) -> None:
    """Re-save a screenshot as a 256-colour PNG: a tenth of the size, text still sharp."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def label_matches(text: str, name: str) -> bool:
    """Whether a form field's label is the parameter ``name``'s: its identifier
    (``client_reference_id (Optional)``) or a title in words (``Client reference ID``)."""
    words = text.lower().replace("_", " ").split(" (")[0].strip()
    return words == name.replace("_", " ")


@contextlib.contextmanager
def prefect_server(home: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    """``prefect server start`` on ``port``; yields the API URL once it answers."""
    import httpx

    server = Process(
        "prefect server",
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        home / "server.log",
        env,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_for(
            "the Prefect server",
            lambda: server.popen.poll() is None and httpx.get(f"{api}/health").is_success,
            timeout=180,
        )
    except TimeoutError:
        server.stop()
        raise RuntimeError(f"the Prefect server did not start:\n{server.tail()}") from None
    try:
        yield api
    finally:
        server.stop()


def deploy(env: dict[str, str], api_base: str) -> None:
    """The credentials block, the work pool and ``prefect deploy`` of flows/prefect.yaml."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from prefect_stripe_identity import StripeIdentityCredentials

    StripeIdentityCredentials(api_key=API_KEY, api_base=api_base).save(
        "stripe-identity", overwrite=True
    )
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="stripe-identity", type="process"))
    deployed = subprocess.run(  # noqa: S603 (our venv's prefect, fixed arguments)
        [*PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_YAML)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if deployed.returncode != 0:
        raise RuntimeError(f"prefect deploy failed:\n{deployed.stdout}\n{deployed.stderr}")


def fill_and_submit_the_form(browser: Chromium, ui: str, out: Path) -> str:
    """Run the verify deployment from its form in the UI; the new flow run's id."""
    from prefect.client.orchestration import get_client
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webelement import WebElement

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
    driver = browser.driver
    driver.get(f"{ui}/deployments/deployment/{deployment.id}/run")

    def field(name: str) -> WebElement:
        for label in driver.find_elements(By.TAG_NAME, "label"):
            if label_matches(label.text, name):
                return label.find_element(By.XPATH, "./ancestor::*[.//fieldset][1]")
        raise LookupError(f"no form field for {name}")

    credentials = wait_for("the run form", lambda: field("credentials"))
    pickers = credentials.find_elements(By.XPATH, ".//button[contains(., 'Select a block')]")
    if pickers:  # the UI does not show the deployment's block reference as chosen
        pickers[0].click()
        wait_for(
            "the block list",
            lambda: driver.find_element(
                By.XPATH, "//*[@role='option'][normalize-space(.)='stripe-identity']"
            ),
        ).click()
    reference = field("client_reference_id")
    tabs = reference.find_elements(By.XPATH, ".//button[@role='tab'][normalize-space(.)='str']")
    if tabs:  # an optional string: "str" rather than "None"
        tabs[0].click()
    box = wait_for(
        "the reference's text box",
        lambda: reference.find_element(By.CSS_SELECTOR, "textarea, input"),
    )
    box.send_keys(PERSON)
    driver.execute_script("window.scrollTo(0, 0)")
    save(browser, out / "verify-form.png")

    submit = driver.find_element(By.XPATH, "//button[normalize-space(.)='Submit']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", submit)
    submit.click()
    with get_client(sync_client=True) as client:
        runs = wait_for(
            "the flow run the form created",
            lambda: [r for r in client.read_flow_runs() if r.deployment_id == deployment.id],
        )
    run = runs[0]
    if run.parameters.get("client_reference_id") != PERSON:
        raise RuntimeError(f"the form's run has unexpected parameters: {run.parameters}")
    return str(run.id)


def open_the_link_and_verify(browser: Chromium, api_base: str, out: Path) -> None:
    """What the person does: open the hosted page from their link and press Verify."""
    from selenium.webdriver.common.by import By

    from prefect_stripe_identity import StripeIdentityClient
    from prefect_stripe_identity.flows import FLOW_RUN_METADATA_KEY

    def link() -> str | None:
        with StripeIdentityClient(API_KEY, api_base=api_base) as client:
            page = client.verification_sessions.list(client_reference_id=PERSON)
        session = page.data[0] if page.data else None
        # Once the flow has annotated the session (the flow run that waits, the retention):
        # a person who submits before that makes the annotation fail (it is logged).
        if (
            session
            and session.status == "requires_input"
            and session.url
            and FLOW_RUN_METADATA_KEY in session.metadata
        ):
            return session.url.get_secret_value()
        return None

    url = wait_for("the session to wait for the person", link, timeout=180)
    browser.resize(760, 560)
    browser.driver.get(url)
    browser.driver.find_element(By.CSS_SELECTOR, "button.verify")
    save(browser, out / "hosted-page.png")
    browser.driver.find_element(By.CSS_SELECTOR, "button.verify").click()
    wait_for("the page to confirm", lambda: "Thanks" in browser.driver.page_source)
    browser.resize(1280, 800)


def finished_run_pages(browser: Chromium, ui: str, flow_run_id: str, out: Path) -> None:
    """The finished run's logs, and its verification artifact."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    driver = browser.driver
    with get_client(sync_client=True) as client:

        def finished() -> Any:
            state = client.read_flow_run(flow_run_id).state
            return state if state is not None and state.is_final() else None

        state = wait_for("the verification to finish", finished, timeout=240)
        if not state.is_completed():
            raise RuntimeError(f"the verification run ended {state.type.value}: {state.message}")
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    driver.get(f"{ui}/runs/flow-run/{flow_run_id}")
    wait_for("the run's last log", lambda: "Finished in state Completed" in body_text(browser))
    time.sleep(2)  # the graph of task runs draws (it stays blank if the page opens tall)
    # Then a tall window: the graph above, and the logs down to the outcome below.
    browser.resize(1280, 1600)
    time.sleep(2)
    save(browser, out / "flow-run-logs.png")
    browser.resize(1280, 800)

    verification = [a for a in artifacts if a.key and "verification" in a.key] or artifacts
    if not verification:
        raise RuntimeError("the verification run left no artifact")
    driver.get(f"{ui}/artifacts/artifact/{verification[0].id}")
    wait_for("the artifact", lambda: "Identity verification" in body_text(browser))
    time.sleep(1)
    save(browser, out / "flow-run-artifact.png")


def body_text(browser: Chromium) -> str:
    from selenium.webdriver.common.by import By

    text: str = browser.driver.find_element(By.TAG_NAME, "body").text
    return text


def save(browser: Chromium, path: Path) -> None:
    browser.screenshot(path)
    shrink(path)
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main(argv: list[str]) -> int:
    out = Path(argv[1]).resolve() if len(argv) > 1 else IMAGES
    out.mkdir(parents=True, exist_ok=True)
    try:
        require_chromium()
    except BaseException as exc:  # pytest's skip or fail outcome: say why and stop
        print(f"screenshots: {exc}", file=sys.stderr)
        return 1
    home = Path(tempfile.mkdtemp(prefix="psi-screenshots-"))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_UI_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PWD": str(ROOT),  # the pull step of flows/prefect.yaml: this checkout
    }
    os.environ.update(env)  # before Prefect is imported: it reads its settings once
    try:
        take(home, env, port, out)
    except BaseException:
        print(f"screenshots: failed; the servers' logs are in {home}", file=sys.stderr)
        raise
    shutil.rmtree(home, ignore_errors=True)
    return 0


def take(home: Path, env: dict[str, str], port: int, out: Path) -> None:
    """The steps of docs/no-code.md, with the Prefect server on ``port``."""
    from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer

    ui = f"http://127.0.0.1:{port}/v2"  # the UI a fresh browser gets at the server's address
    config = EmulatorConfig(processing_seconds=1)
    with (
        EmulatorServer(config) as stripe,
        prefect_server(home, port, env),
        Chromium(1280, 800) as browser,
    ):
        deploy(env, stripe.url)
        flow_run_id = fill_and_submit_the_form(browser, ui, out)
        worker = Process(
            "prefect worker",
            [*PREFECT, "worker", "start", "--pool", "stripe-identity"],
            home / "worker.log",
            env,
        )
        try:
            open_the_link_and_verify(browser, stripe.url, out)
            finished_run_pages(browser, ui, flow_run_id, out)
        except BaseException:
            print(worker.tail(), file=sys.stderr)
            raise
        finally:
            worker.stop()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
