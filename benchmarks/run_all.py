"""Run every benchmark and write benchmarks/RESULTS.md (what `make bench` does).

    .venv/bin/python benchmarks/run_all.py                  # everything, about 12 minutes
    .venv/bin/python benchmarks/run_all.py --only client_overhead,demo_time

Each benchmark runs as its own process (fresh imports, its own Prefect home); its output
is shown as it comes and its figures are read from what it prints. RESULTS.md gets the
machine description and one table per benchmark; the docs include it
(docs/benchmarks.md). A benchmark that fails is reported as such in RESULTS.md and makes
the exit code 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SCALE_START = "<!-- --8<-- [start:scale] -->"
BENCHMARKS = ("client_overhead", "retention_sweep", "polling_vs_webhook", "demo_time")


def run(name: str, *args: str) -> tuple[int, str]:
    """Run ``benchmarks/<name>.py``, echoing its output; returns (exit code, stdout)."""
    print(f"\n=== {name} ===", flush=True)
    with subprocess.Popen(  # noqa: S603 (our own interpreter and scripts)
        [sys.executable, str(HERE / f"{name}.py"), *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        return process.wait(), "".join(lines)


def _result_line(out: str) -> dict[str, Any]:
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]
    raise ValueError("no RESULT line")


# --- each benchmark: run it, then its markdown -------------------------------------------


def client_overhead() -> tuple[int, str]:
    code, out = run("client_overhead")
    medians: dict[str, dict[str, float]] = {}
    ratios: dict[str, dict[str, str]] = {}
    op = None
    for line in out.splitlines():
        header = re.match(r"^(retrieve|create) \(median", line)
        if header:
            op = header.group(1)
            continue
        if op is None:
            continue
        ratio = re.match(r"^\s+ours / (.+?)\s+([\d.]+)\s+\(target <= ([\d.]+)\)\s+(\w+)", line)
        median = re.match(r"^\s+(.+?)\s+([\d.]+) ms$", line)
        if ratio:
            name = f"ours / {ratio.group(1)}, target ≤ {ratio.group(3)}"
            ratios.setdefault(name, {})[op] = f"**{ratio.group(2)}** {ratio.group(4)}"
        elif median:
            medians.setdefault(median.group(1), {})[op] = float(median.group(2))
    if not medians:
        return code or 1, "Could not read the figures.\n"
    rows = ["| median per call | retrieve | create |", "|---|---|---|"]
    rows += [
        f"| {name} | {ops.get('retrieve', 0):.3f} ms | {ops.get('create', 0):.3f} ms |"
        for name, ops in medians.items()
    ]
    rows += [
        f"| {name} | {r.get('retrieve', '')} | {r.get('create', '')} |"
        for name, r in ratios.items()
    ]
    note = (
        "\nEach client calls a minimal local server (600 retrieves, 200 creates each, "
        "interleaved); the server's own time is in every figure, which pulls ratios towards 1.\n"
    )
    return code, "\n".join(rows) + "\n" + note


def _rss_growth(row: dict[str, Any]) -> str:
    value = row.get("peak_rss_growth_mib", row.get("maxrss_growth_mib"))
    return "n/a" if value is None else f"{value:.1f} MiB"


def retention_sweep() -> tuple[int, str]:
    code, out = run("retention_sweep")
    lines = out.splitlines()
    starts = [i for i, line in enumerate(lines) if line == "{"]
    if not starts:
        return code or 1, "Could not read the figures.\n"
    data = json.loads("\n".join(lines[starts[-1] :]))
    parts = []
    t = data.get("throughput")
    if t:
        parts += [
            "| throughput | |",
            "|---|---|",
            f"| sessions redacted | {t['redacted']:,} |",
            f"| emulator rate limit (reads and writes, each) | {t['rate_limit']:g}/s |",
            f"| sweep `requests_per_second` | {t['requests_per_second']:g} |",
            f"| redactions per second | {t['redactions_per_second']:.1f} |",
            f"| **ratio of the rate limit** (target ≥ 0.9) | **{t['ratio_of_limit']:.3f}** |",
            f"| 429s from the server | {t['http_429']} |",
            f"| failed | {sum(t['failed'].values()) if t['failed'] else 0} |",
            "",
        ]
    memory = data.get("memory")
    if memory:
        parts += [
            "| sessions | mode | tracemalloc peak | peak RSS growth | sweep time |",
            "|---|---|---|---|---|",
        ]
        parts += [
            f"| {r['sessions']:,} | {'dry run' if r['dry_run'] else 'redacting'} | "
            f"{r['tracemalloc_peak_mib']:.1f} MiB | {_rss_growth(r)} | "
            f"{r['seconds']:.1f} s |"
            for r in memory
        ]
        parts.append("")
    return code, "\n".join(parts) + "\n"


def polling_vs_webhook() -> tuple[int, str]:
    code, out = run("polling_vs_webhook")
    try:
        data = _result_line(out)
    except ValueError:
        return code or 1, "Could not read the figures.\n"
    m = data["measured"]
    parts = [
        f"One person, who submits {data['person_seconds']:g} s after the session is created:",
        "",
        "| wait | Stripe calls | wall time |",
        "|---|---|---|",
        *(
            f"| `{wait}` | {row['stripe_calls']} | {row['seconds']:.1f} s |"
            for wait, row in m.items()
        ),
        "",
        "Polling's calls for longer waits, from `verify_identity`'s schedule (5 s doubling to "
        "60 s while nothing changes); waiting by webhook makes no call while waiting:",
        "",
        "| the person takes | polling: calls in all | webhook: calls in all |",
        "|---|---|---|",
        *(
            f"| {label} | {polls + 3} | 4 |"  # create, annotate, report (+ final retrieve)
            for label, polls in data["polls"].items()
        ),
    ]
    return code, "\n".join(parts) + "\n"


def demo_time() -> tuple[int, str]:
    code, out = run("demo_time", "--runs", "2")
    try:
        data = _result_line(out)
    except ValueError:
        return code or 1, "Could not read the figures.\n"
    runs = ", ".join(f"{r['seconds']:.1f} s" for r in data["runs"])
    return code, (
        f"`make demo` (`prefect-stripe-identity demo`, fresh Prefect home, embedded emulator): "
        f"**{data['median_seconds']:.1f} s** median ({runs}), of which the temporary "
        "Prefect server's start is the larger part.\n"
    )


RUNNERS: dict[str, tuple[str, Callable[[], tuple[int, str]]]] = {
    "client_overhead": ("Client overhead: ours vs the official SDK vs bare httpx", client_overhead),
    "retention_sweep": ("Retention sweep: throughput and memory", retention_sweep),
    "polling_vs_webhook": ("Waiting for one verification: polling vs webhook", polling_vs_webhook),
    "demo_time": ("The demo", demo_time),
}


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.2f} at the start"
    libs = ", ".join(
        f"{d} {_version(d)}"
        for d in ("prefect-stripe-identity", "prefect", "httpx", "pydantic", "stripe", "uvicorn")
    )
    return (
        f"{os.cpu_count()} CPUs ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"{platform.python_implementation()} {platform.python_version()}{load}; {libs}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated names")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(RUNNERS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    described = machine()
    started = datetime.datetime.now(datetime.timezone.utc)
    sections, failed = [], []
    for name in chosen:
        title, runner = RUNNERS[name]
        code, body = runner()
        status = "" if code == 0 else f"\n**{name} exited with code {code}.**\n"
        if code:
            failed.append(name)
        sections.append(f"### {title}\n\n`benchmarks/{name}.py`\n\n{body}{status}")
    text = "\n".join(
        [
            "# Benchmark results",
            "",
            "Written by `make bench` (`benchmarks/run_all.py`); methods in "
            "`benchmarks/README.md`. Do not edit by hand.",
            "",
            "<!-- --8<-- [start:results] -->",
            f"Measured {started:%Y-%m-%d %H:%M} UTC on {described}.",
            "",
            *sections,
            "<!-- --8<-- [end:results] -->",
            "",
        ]
    )
    # `make scale` records its own section (benchmarks/scale.py): keep it.
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    if SCALE_START in old:
        text += old[old.index(SCALE_START) :]
    RESULTS.write_text(text, encoding="utf-8")
    print(f"\nWrote {RESULTS.relative_to(HERE.parent)}")
    if failed:
        print(f"Failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
