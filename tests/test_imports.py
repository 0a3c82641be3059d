"""What importing the package does, and does not (issue 12, item 2).

* ``from prefect_stripe_identity import StripeIdentityClient`` loads the client, the models
  and the errors, and no Prefect, starlette nor uvicorn: the exports are lazy.
* Importing any module of the package configures no logging: no filter nor handler on the
  root logger or Prefect's. The secrets filter is installed on first use, and a log record
  of a Prefect run holding a Stripe key is still masked.

Each import check runs in a fresh interpreter, where nothing was imported before.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from prefect import flow, get_run_logger, task

import prefect_stripe_identity
from prefect_stripe_identity import StripeIdentityCredentials
from prefect_stripe_identity._logging import _FILTER, StripeSecretsFilter

KEY = "sk_test_ImportsKey51HxYzAbCd9876"

# The modules of the models and client layers (see tests/test_layers.py).
CLIENT_MODULES = [
    "prefect_stripe_identity",
    "prefect_stripe_identity._version",
    "prefect_stripe_identity._secrets",
    "prefect_stripe_identity._logging",
    "prefect_stripe_identity.models",
    "prefect_stripe_identity._exceptions",
    "prefect_stripe_identity._encoding",
    "prefect_stripe_identity._params",
    "prefect_stripe_identity._pagination",
    "prefect_stripe_identity._base_client",
    "prefect_stripe_identity._resources",
    "prefect_stripe_identity._client",
]
CLIENT_NAMES = [
    "StripeIdentityClient",
    "AsyncStripeIdentityClient",
    "VerificationSession",
    "VerificationReport",
    "StripeIdentityError",
    "InvalidRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiter",
    "IdempotencyError",
    "APIError",
    "APIConnectionError",
    "Page",
    "AsyncPage",
    "install_secrets_filter",
    "__version__",
]
HEAVY = ("prefect", "starlette", "uvicorn", "fastapi")


def _run(code: str) -> dict[str, object]:
    """Runs ``code`` in a fresh interpreter; it prints one JSON object, returned here."""
    done = subprocess.run(  # noqa: S603 (this interpreter, fixed code)
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_client_from_the_top_level_loads_no_prefect_starlette_nor_uvicorn() -> None:
    result = _run(f"""if True:
        import json, sys
        from prefect_stripe_identity import {", ".join(CLIENT_NAMES)}
        client = StripeIdentityClient(api_key="sk_test_x1234567", api_base="http://127.0.0.1:1")
        client.close()
        for name in {CLIENT_MODULES!r}:
            __import__(name)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        print(json.dumps({{"heavy": heavy}}))
    """)
    assert result["heavy"] == []


def test_importing_the_package_leaves_the_root_logger_alone() -> None:
    result = _run(f"""if True:
        import json, logging
        root = logging.getLogger()
        before = (list(root.filters), list(root.handlers), root.level)
        import prefect_stripe_identity
        from prefect_stripe_identity import StripeIdentityClient
        for name in {CLIENT_MODULES!r}:
            __import__(name)
        after = (list(root.filters), list(root.handlers), root.level)
        print(json.dumps({{"same": before == after}}))
    """)
    assert result["same"] is True


def test_importing_every_module_adds_no_filter_nor_handler_to_root_or_prefect_loggers() -> None:
    # Prefect configures its own loggers on import; what is checked is that nothing of
    # ours lands on them, nor on the root logger, nor on any of their handlers.
    result = _run("""if True:
        import importlib, json, logging, pkgutil
        import prefect_stripe_identity

        names = [m.name for m in pkgutil.walk_packages(
            prefect_stripe_identity.__path__, "prefect_stripe_identity.")]
        for name in names:
            importlib.import_module(name)
        for name in prefect_stripe_identity.__all__:
            getattr(prefect_stripe_identity, name)

        def ours(obj):
            return type(obj).__module__.startswith("prefect_stripe_identity")

        found = []
        loggers = {"": logging.getLogger()}
        for name, logger in logging.Logger.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                loggers[name] = logger
        for name, logger in loggers.items():
            if name.startswith("prefect_stripe_identity"):
                continue  # the package's own loggers carry the filter (get_logger)
            found += [f"{name or 'root'}: filter {f!r}" for f in logger.filters if ours(f)]
            found += [f"{name or 'root'}: handler {h!r}" for h in logger.handlers if ours(h)]
            for handler in logger.handlers:
                found += [f"{name or 'root'}: {handler!r} filter" for f in handler.filters
                          if ours(f)]
        print(json.dumps({"modules": len(names), "found": found}))
    """)
    assert result["found"] == []
    assert isinstance(result["modules"], int) and result["modules"] > 30


def test_every_export_is_listed_and_resolves_lazily() -> None:
    # `dir()` lists every export before it is loaded (`inspect.getmembers`, hence
    # `prefect block register -m prefect_stripe_identity`, relies on it).
    assert set(prefect_stripe_identity.__all__) <= set(dir(prefect_stripe_identity))
    for name in prefect_stripe_identity.__all__:
        assert getattr(prefect_stripe_identity, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        prefect_stripe_identity.NoSuchName  # noqa: B018 (the lookup is under test)


# --- the filter, installed on first use -----------------------------------------------------


def _everything_that_may_carry_the_filter() -> Iterator[logging.Filterer]:
    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        yield logger
        yield from logger.handlers
    yield logging.getLogger("prefect_stripe_identity")


@pytest.fixture
def no_secrets_filter() -> Iterator[None]:
    """Takes the filter off Prefect's loggers and handlers, as in a process that only
    imported the package; puts it back afterwards."""
    had = [f for f in _everything_that_may_carry_the_filter() if _FILTER in f.filters]
    for filterer in had:
        filterer.removeFilter(_FILTER)
    try:
        yield
    finally:
        for filterer in had:
            filterer.addFilter(_FILTER)


def _run_logger_filtered() -> bool:
    return any(
        isinstance(f, StripeSecretsFilter) for f in logging.getLogger("prefect.task_runs").filters
    )


@pytest.mark.usefixtures("no_secrets_filter")
def test_a_credentials_block_installs_the_filter() -> None:
    assert not _run_logger_filtered()
    StripeIdentityCredentials(api_key=KEY)
    assert _run_logger_filtered()


@pytest.mark.usefixtures("no_secrets_filter")
def test_the_webhook_app_installs_the_filter() -> None:
    from prefect_stripe_identity.webhooks import create_webhook_app

    assert not _run_logger_filtered()
    create_webhook_app("whsec_" + "ImportsTestSecret0001")
    assert _run_logger_filtered()


@pytest.mark.usefixtures("prefect_engine", "no_secrets_filter")
def test_a_task_run_logging_the_key_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    @task
    def careless(credentials: StripeIdentityCredentials) -> None:
        get_run_logger().warning("task using %s", credentials.api_key.get_secret_value())

    @flow
    def careless_flow(credentials: StripeIdentityCredentials) -> None:
        get_run_logger().warning("flow using %s", credentials.api_key.get_secret_value())
        careless(credentials)

    assert not _run_logger_filtered()  # nothing installed it: only the package was imported
    with caplog.at_level(logging.INFO):
        careless_flow(StripeIdentityCredentials(api_key=KEY))
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("prefect.")]
    assert any("task using sk_test_********" in m for m in messages), messages
    assert any("flow using sk_test_********" in m for m in messages), messages
    assert KEY not in caplog.text
