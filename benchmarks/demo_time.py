"""How long `make demo` takes: ``prefect-stripe-identity demo`` timed end to end.

    .venv/bin/python benchmarks/demo_time.py [--runs 1]

Each run is a fresh process as a newcomer runs it: an empty ``HOME`` and no ``PREFECT_*``
variable (so Prefect's home, profile and database do not exist yet, and its temporary
server's first start creates the database), and no ``STRIPE_API_KEY`` (the embedded
emulator). Printed: the wall time of each run, the time to the first line (mostly
imports) and the temporary server's start as the demo reports it, then ``RESULT <json>``
for `run_all.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = Path(sys.executable).with_name("prefect-stripe-identity")


def run_once() -> dict[str, float | int]:
    home = tempfile.mkdtemp(prefix="psi-bench-demo-")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PREFECT_") and name != "STRIPE_API_KEY"
    }
    env["HOME"] = home
    started = time.monotonic()
    first_line: float | None = None
    server_start: float | None = None
    try:
        with subprocess.Popen(  # noqa: S603 (our own console script)
            [str(CLI), "demo"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**env, "PYTHONUNBUFFERED": "1"},
        ) as process:
            assert process.stdout is not None
            lines = 0
            for line in process.stdout:
                lines += 1
                if first_line is None:
                    first_line = time.monotonic() - started
                if ready := re.match(r"Prefect server ready after (\d+) s", line):
                    server_start = float(ready[1])
            code = process.wait()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {
        "seconds": round(time.monotonic() - started, 1),
        "first_line_seconds": round(first_line or 0.0, 1),
        "server_start_seconds": server_start if server_start is not None else -1,
        "lines": lines,
        "exit_code": code,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    runs = []
    for n in range(args.runs):
        row = run_once()
        runs.append(row)
        print(
            f"  run {n + 1}: {row['seconds']:.1f} s (first line after "
            f"{row['first_line_seconds']:.1f} s, temporary Prefect server ready after "
            f"{row['server_start_seconds']:.0f} s), exit code {row['exit_code']}",
            flush=True,
        )
    median = statistics.median(r["seconds"] for r in runs)
    print(f"make demo: median {median:.1f} s over {len(runs)} run(s)")
    print("RESULT " + json.dumps({"runs": runs, "median_seconds": median}))
    return 0 if all(r["exit_code"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
