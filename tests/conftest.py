"""Test-session set-up shared by every test module.

Prefect reads its settings when first imported, so its home folder is pointed at a
throw-away directory here, before any test module imports the package: the suite never
touches the developer's own Prefect profile or database.
"""

from __future__ import annotations

import os
import tempfile

os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="psi-prefect-home-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_API_KEY", None)


import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

#: The folder of this test run's migrated Prefect database, shared by pytest-xdist's workers.
DATABASE_FOLDER_ENV = "PSI_TEST_PREFECT_DATABASE_DIR"
_DATABASE_FOLDER = pytest.StashKey[Path]()
_BUILDER = pytest.StashKey["subprocess.Popen[bytes]"]()

# ``python -c _BUILD_DATABASE <folder>``: unless <folder>/prefect.db exists, creates it as a
# Prefect server's first start on an empty database does (every migration, every block type
# registered), whole (no write-ahead log beside it) so that it can be copied. One at a time
# (a lock in the folder); the later ones find it done.
_BUILD_DATABASE = """if True:
    import fcntl, os, pathlib, sys, tempfile

    folder = pathlib.Path(sys.argv[1])
    lock = (folder / "build.lock").open("a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    built, building = folder / "prefect.db", folder / "building.db"
    if not built.exists():
        os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="psi-prefect-home-")
        os.environ["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{building}"
        import asyncio, sqlite3
        from prefect.server.database import provide_database_interface
        from prefect.server.models.block_registration import run_block_auto_registration

        async def build():
            db = provide_database_interface()
            await db.create_db()
            async with await db.session() as session:
                await run_block_auto_registration(session=session)
                await session.commit()
            await (await db.engine()).dispose()

        asyncio.run(build())
        with sqlite3.connect(building) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.execute("PRAGMA journal_mode = DELETE")
        os.replace(building, built)
"""


def _build_database(folder: Path, **options: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (this interpreter, our own code)
        [sys.executable, "-c", _BUILD_DATABASE, str(folder)], **options
    )


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the run's own process, not an xdist worker
        folder = Path(tempfile.mkdtemp(prefix="psi-prefect-database-"))
        os.environ[DATABASE_FOLDER_ENV] = str(folder)  # the workers, started later, inherit it
        config.stash[_DATABASE_FOLDER] = folder
        # Built meanwhile, while the workers start and collect the tests.
        config.stash[_BUILDER] = _build_database(
            folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    builder = config.stash.get(_BUILDER, None)
    if builder is not None:
        if builder.poll() is None:  # no test needed it, and it is not done yet
            builder.kill()
        builder.wait(30)
    folder = config.stash.get(_DATABASE_FOLDER, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The ``long`` tests first (in their order): started last, one of them would run on
    alone at the end while the other workers wait."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def _migrated_database() -> Path:
    """A fresh copy of this run's migrated Prefect database, in a folder of its own.

    A Prefect server's first start on an empty database runs every migration and registers
    every block type: about 10 s of CPU, which each xdist worker's test server paid again
    on the same two cores. It is built once per run (started in the background by
    `pytest_configure`; whoever needs it first waits for it, or builds it) and copied."""
    folder = Path(os.environ.get(DATABASE_FOLDER_ENV) or tempfile.mkdtemp())
    builder = _build_database(folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = builder.communicate(timeout=300)
    if builder.returncode != 0:
        raise RuntimeError(f"building Prefect's test database failed:\n{output.decode()}")
    copy = Path(tempfile.mkdtemp(prefix="psi-prefect-test-db-")) / "prefect-test.db"
    shutil.copyfile(folder / "prefect.db", copy)
    return copy


@pytest.fixture(scope="session")
def prefect_engine() -> Iterator[None]:
    """A real Prefect engine (a temporary server): one per test session, started only when
    a test that needs it runs. Its database starts migrated (see `_migrated_database`)."""
    import prefect.testing.utilities
    from prefect.testing.utilities import prefect_test_harness

    database = _migrated_database()
    with contextlib.ExitStack() as stack:
        # The harness puts its database in a folder it makes with `mkdtemp`: ours, here.
        with mock.patch.object(
            prefect.testing.utilities, "mkdtemp", return_value=str(database.parent)
        ):
            stack.enter_context(prefect_test_harness(server_startup_timeout=120))
        yield
