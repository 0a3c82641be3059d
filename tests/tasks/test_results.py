"""Persisted results: readable by any Prefect environment, even one without this package
(issue 12, item 10), and still holding no secret and no personal datum."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from prefect.filesystems import LocalFileSystem
from prefect.results import ResultStore

from prefect_stripe_identity import MaskingPickleSerializer, VerificationSession
from prefect_stripe_identity.serializers import masking_json_serializer

CLIENT_SECRET = "vs_1Abc_secret_" + "resultsNeverStored"
SESSION = {
    "id": "vs_1Abc",
    "object": "identity.verification_session",
    "status": "verified",
    "type": "document",
    "created": 1764990000,
    "livemode": False,
    "client_secret": CLIENT_SECRET,
    "url": "https://verify.stripe.com/start/test_resultsNeverStored",
    "metadata": {"user": "42"},
    "verified_outputs": {"first_name": "Jennifer", "last_name": "Rosales"},
}

# Reads a result record from storage in a fresh interpreter where this package cannot be
# imported at all, as a Prefect environment without it (e.g. the UI's server, a worker of
# another project) would.
READER = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class NoPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "prefect_stripe_identity":
                raise ImportError(f"{name} is not installed here")
            return None

    sys.meta_path.insert(0, NoPackage())
    from prefect.filesystems import LocalFileSystem
    from prefect.results import ResultStore

    store = ResultStore(result_storage=LocalFileSystem(basepath=sys.argv[1]))
    print(json.dumps(store.read(sys.argv[2]).result))
    """
)


def persist(tmp_path: Path, serializer: Any, key: str) -> None:
    store = ResultStore(
        result_storage=LocalFileSystem(basepath=str(tmp_path)), serializer=serializer
    )
    session = VerificationSession.model_validate(SESSION)
    store.persist_result_record(store.create_result_record(session, key=key))


def read_elsewhere(tmp_path: Path, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-c", READER, str(tmp_path), key],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_persisted_result_is_read_by_prefect_alone(tmp_path: Path) -> None:
    persist(tmp_path, masking_json_serializer(), "session-result")
    read = read_elsewhere(tmp_path, "session-result")
    assert read.returncode == 0, read.stderr[-3000:]
    assert '"vs_1Abc"' in read.stdout and '"verified"' in read.stdout
    for secret in (CLIENT_SECRET, "test_resultsNeverStored", "Jennifer", "Rosales"):
        assert secret not in read.stdout
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert CLIENT_SECRET.encode() not in stored and b"Jennifer" not in stored


def test_with_the_package_the_result_comes_back_as_the_model(tmp_path: Path) -> None:
    persist(tmp_path, masking_json_serializer(), "typed")
    store = ResultStore(result_storage=LocalFileSystem(basepath=str(tmp_path)))
    restored = store.read("typed").result
    assert isinstance(restored, VerificationSession)
    assert restored.id == "vs_1Abc" and restored.client_secret is None
    assert restored.verified_outputs is not None
    assert restored.verified_outputs.first_name == "[personal data]"


def test_the_earlier_pickle_results_needed_the_package(tmp_path: Path) -> None:
    # Why the change: the reader above fails on what the pickle serializer stored (which
    # also proves the reader really has no access to the package).
    persist(tmp_path, MaskingPickleSerializer(), "pickled")
    read = read_elsewhere(tmp_path, "pickled")
    assert read.returncode != 0
    assert (
        "stripe-identity-masked-pickle" in read.stderr or "prefect_stripe_identity" in read.stderr
    )


@pytest.mark.parametrize("kind", ["json", "pickle"])
def test_both_kinds_read_back_here(tmp_path: Path, kind: str) -> None:
    serializer = masking_json_serializer() if kind == "json" else MaskingPickleSerializer()
    persist(tmp_path, serializer, kind)
    restored = ResultStore(result_storage=LocalFileSystem(basepath=str(tmp_path))).read(kind)
    assert restored.result.id == "vs_1Abc"


def test_every_flow_and_task_of_the_package_persists_readable_json() -> None:
    from prefect.serializers import JSONSerializer

    from prefect_stripe_identity import flows, tasks
    from prefect_stripe_identity.flows._retention import _batch

    runnables = [getattr(tasks, name) for name in tasks.__all__]
    runnables += [
        getattr(flows, name) for name in flows.__all__ if hasattr(getattr(flows, name), "fn")
    ]
    runnables.append(_batch._redact_batch)
    encoder = masking_json_serializer().object_encoder
    for runnable in runnables:
        serializer = runnable.result_serializer
        assert isinstance(serializer, JSONSerializer), runnable.name
        assert serializer.object_encoder == encoder, runnable.name


RETENTION_RESULTS: dict[str, dict[str, Any]] = {
    "SweepReport": {"dry_run": True, "cutoff": 1764990000, "scanned": 3},
    "SweepFailure": {"session_id": "vs_1Abc", "error_code": "api_error"},
    "SessionRedactionResult": {"session_id": "vs_1Abc", "outcome": "redacted"},
    "_BatchResult": {"redacted": 2},
}


@pytest.mark.parametrize("name", sorted(RETENTION_RESULTS))
def test_retention_results_stored_before_the_module_split_read_back(name: str) -> None:
    # Prefect's JSON names a model's class by its module: results written when the
    # retention flows were the one module `flows._retention` name that path.
    from prefect_stripe_identity.flows import _retention

    model = getattr(_retention, name)(**RETENTION_RESULTS[name])
    serializer = masking_json_serializer()
    stored = serializer.dumps(model).decode()
    now = f'"{type(model).__module__}.{name}"'
    assert now in stored and type(model).__module__ != _retention.__name__
    old = stored.replace(now, f'"{_retention.__name__}.{name}"')
    assert serializer.loads(old.encode()) == model
