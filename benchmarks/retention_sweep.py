"""Retention sweep: throughput against a rate limit, and memory that stays flat with size.

    .venv/bin/python benchmarks/retention_sweep.py                      # everything (~8 min)
    .venv/bin/python benchmarks/retention_sweep.py --skip-memory        # throughput only
    .venv/bin/python benchmarks/retention_sweep.py --skip-throughput --memory-sizes 10000,30000

**Throughput.** The emulator runs in a thread with ``rate_limit=50`` (50 reads and 50
writes per second, as Stripe counts them), holds ``--sessions`` expired verified sessions,
and the sweep runs with ``requests_per_second=50`` under a real Prefect engine. Printed:
redactions per second as a ratio of the limit (target >= 0.9) and the 429s the server sent.
The sweep's throttle counts every Stripe request, list pages included (1 per 100 sessions),
so the ceiling is 100/101 of the limit.

**Memory.** Each size runs in a fresh subprocess (the emulator, which holds every session,
stays in this process and is not measured): a Prefect engine starts, then the sweep runs
under ``tracemalloc``. Printed: the tracemalloc peak during the sweep and the growth of the
process's max RSS over the sweep. ``--memory-sizes`` (default 10,000 and 100,000) run as dry
runs (the listing and classification, which is what scales with the account: the redaction
pipeline is bounded by its batches in flight); ``--real-sizes`` (default 5,000 and 15,000)
run real redactions with no emulator rate limit (slow under tracemalloc), to show the
batch pipeline is flat too.
Target: flat (the largest size's peak within ~1.5x of the smallest's, not 10x).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx

API_KEY = "sk_test_retentionSweepBenchmark"


def _prefect_env() -> None:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="psi-bench-prefect-")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("PREFECT_API_KEY", None)
    # The sweep logs a line per batch task state; keep the console readable.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _seed(url: str, count: int, status: str = "verified", age_days: int = 40) -> None:
    left = count
    while left:
        chunk = min(left, 100_000)
        response = httpx.post(
            f"{url}/_emulator/seed",
            data={"count": chunk, "status": status, "age_days": age_days},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=600,
        )
        response.raise_for_status()
        left -= chunk


def _stats(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/_emulator/stats", timeout=60).json()  # type: ignore[no-any-return]


def throughput(sessions: int, rate_limit: float, rps: float) -> dict[str, Any]:
    """The sweep against a rate-limited emulator, in this process."""
    from prefect.testing.utilities import prefect_test_harness

    from prefect_stripe_identity import StripeIdentityCredentials
    from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer
    from prefect_stripe_identity.flows import redact_expired_verification_sessions

    config = EmulatorConfig(rate_limit=rate_limit, redaction_seconds=0, tick_seconds=0)
    with prefect_test_harness(server_startup_timeout=120), EmulatorServer(config) as server:
        _seed(server.url, sessions)
        credentials = StripeIdentityCredentials(api_key=API_KEY, api_base=server.url)
        time.sleep(1.5)  # let the emulator's buckets fill after seeding, as in steady state
        before = _stats(server.url)
        started = time.monotonic()
        report = redact_expired_verification_sessions(
            credentials, requests_per_second=rps, progress_every=2000
        )
        wall = time.monotonic() - started
        after = _stats(server.url)
    rate = report.redacted / report.elapsed_seconds
    return {
        "sessions": sessions,
        "rate_limit": rate_limit,
        "requests_per_second": rps,
        "redacted": report.redacted,
        "failed": report.failed,
        "sweep_seconds": report.elapsed_seconds,
        "flow_wall_seconds": round(wall, 2),
        "redactions_per_second": round(rate, 2),
        "ratio_of_limit": round(rate / rate_limit, 3),
        "http_429": after["rate_limited"] - before["rate_limited"],
        "requests": after["requests"] - before["requests"],
    }


def _high_water_mib() -> float:
    """This process's peak RSS. ``VmHWM`` (Linux) rather than ``ru_maxrss``: after fork
    and exec, ``ru_maxrss`` still reports the parent's peak (here the emulator's 100,000
    sessions), which is not ours."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(url: str, dry_run: bool) -> None:
    """Run in a subprocess: one sweep under tracemalloc, figures as JSON on stdout."""
    _prefect_env()
    import tracemalloc

    from prefect.testing.utilities import prefect_test_harness

    from prefect_stripe_identity import StripeIdentityCredentials
    from prefect_stripe_identity.flows import redact_expired_verification_sessions

    credentials = StripeIdentityCredentials(api_key=API_KEY, api_base=url, timeout=300)
    with prefect_test_harness(server_startup_timeout=120):
        # A warm-up sweep that stops at the first due session (one page): imports, the
        # engine's first-run caches, so the measured sweep shows only what scales.
        redact_expired_verification_sessions(credentials, dry_run=True, max_sessions=1)
        rss_before = _high_water_mib()
        tracemalloc.start()
        report = redact_expired_verification_sessions(
            credentials, dry_run=dry_run, requests_per_second=1_000_000, progress_every=10_000
        )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = _high_water_mib()
    print(
        json.dumps(
            {
                "scanned": report.scanned,
                "redacted": report.redacted,
                "would_redact": report.would_redact,
                "failed": report.failed,
                "seconds": report.elapsed_seconds,
                "tracemalloc_peak_mib": round(peak / 2**20, 2),
                "peak_rss_growth_mib": round(rss_after - rss_before, 2),
                "peak_rss_mib": round(rss_after, 1),
            }
        )
    )


def memory(sizes: list[int], dry_run: bool) -> list[dict[str, Any]]:
    """One subprocess per size, against an emulator in this process."""
    from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer

    rows = []
    for size in sizes:
        config = EmulatorConfig(redaction_seconds=0, tick_seconds=0)
        with EmulatorServer(config) as server:
            _seed(server.url, size)
            child = subprocess.run(  # noqa: S603 (our own interpreter and script)
                [sys.executable, __file__, "--child-memory", server.url]
                + (["--child-dry-run"] if dry_run else []),
                capture_output=True,
                text=True,
                timeout=3600,
                check=False,
            )
        if child.returncode != 0:
            raise RuntimeError(f"memory child failed:\n{child.stderr[-4000:]}")
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        rows.append({"sessions": size, "dry_run": dry_run, **figures})
        print(f"  {'dry run' if dry_run else 'redacting'} {size:>7}: {figures}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--rate-limit", type=float, default=50.0)
    parser.add_argument("--requests-per-second", type=float, default=50.0)
    parser.add_argument("--memory-sizes", default="10000,100000")
    parser.add_argument("--real-sizes", default="5000,15000")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--child-memory", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--child-dry-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        memory_child(args.child_memory, args.child_dry_run)
        return
    _prefect_env()
    results: dict[str, Any] = {}
    if not args.skip_throughput:
        print(
            f"Throughput: {args.sessions} expired sessions, emulator rate_limit="
            f"{args.rate_limit:g}/s, sweep requests_per_second={args.requests_per_second:g}",
            flush=True,
        )
        results["throughput"] = row = throughput(
            args.sessions, args.rate_limit, args.requests_per_second
        )
        verdict = "OK" if row["ratio_of_limit"] >= 0.9 else "BELOW TARGET"
        print(
            f"  {row['redacted']} redacted in {row['sweep_seconds']:.1f} s: "
            f"{row['redactions_per_second']:.1f}/s = {row['ratio_of_limit']:.3f} of the limit "
            f"(target >= 0.9: {verdict}); 429s from the server: {row['http_429']}; "
            f"failed: {row['failed']}",
            flush=True,
        )
    if not args.skip_memory:
        print("Memory (tracemalloc peak during the sweep, peak RSS growth over it):", flush=True)
        rows = []
        if args.memory_sizes:
            rows += memory([int(s) for s in args.memory_sizes.split(",")], dry_run=True)
        if args.real_sizes:
            rows += memory([int(s) for s in args.real_sizes.split(",")], dry_run=False)
        results["memory"] = rows
        for dry_run in (True, False):
            same = [r for r in rows if r["dry_run"] is dry_run]
            if len(same) >= 2:
                ratio = same[-1]["tracemalloc_peak_mib"] / same[0]["tracemalloc_peak_mib"]
                print(
                    f"  {'dry run' if dry_run else 'redacting'}: peak x{ratio:.2f} from "
                    f"{same[0]['sessions']} to {same[-1]['sessions']} sessions "
                    f"({'flat' if ratio < 1.5 else 'GROWS'})",
                    flush=True,
                )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
