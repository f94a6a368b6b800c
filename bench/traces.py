"""Trace uploads and arrival downloads against ``meshplan serve`` (gunicorn,
2 processes x 4 threads) on loopback, with traces generated here:

- a full day of the Azure Functions 2019 format (per-minute counts of
  40 000 functions, about 10 M invocations, whose replay is about 10 M
  arrivals);
- the 2021 format: 900 000 invocations over a day, in end order as the
  published trace is (so arrivals are out of order), kept as they are;

on SQLite and on PostgreSQL (skipped when no server answers at
``MESHPLAN_TEST_POSTGRES_URL``).

For each: the upload's time on a fresh server, then on another fresh one
the arrivals downloaded as ``.npz`` and as JSON pages of the largest size,
each with its time and the peak RSS of the serving processes (the largest
Linux ``VmHWM`` of the gunicorn workers, reset before each request), and
the workers' RSS when idle. Target: every download under 300 MiB. The
upload has none: its replay holds the whole workload and its windows.

Run ``python -m bench.traces [--quick]`` (Linux: reads /proc)."""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.service import call, databases, prepare, serving
from planner.files import load_workload
from planner.workloads import azure2019, azure2021

TARGET_PEAK_BYTES = 300 * 2**20
MIB = 2**20
TRIGGERS = ("http", "timer", "queue", "event", "storage")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def azure2019_day(functions: int, per_minute: float, seed: int = 0) -> Iterator[str]:
    """Lines of one day in the 2019 format: ``functions`` functions with
    heavy-tailed popularity (lognormal) and a daily cycle, about
    ``per_minute`` invocations a minute in all."""
    rng = np.random.default_rng(seed)
    minute = np.arange(azure2019.MINUTES_PER_DAY)
    daily = 1.0 + 0.5 * np.sin(2 * np.pi * (minute - 360) / azure2019.MINUTES_PER_DAY)
    popularity = rng.lognormal(0.0, 2.0, functions)
    popularity *= per_minute / popularity.sum()
    yield ",".join(azure2019.HEADER) + "\n"
    for start in range(0, functions, 1000):
        block = rng.poisson(np.outer(popularity[start : start + 1000], daily))
        for f, counts in enumerate(block, start=start):
            keys = (_hash(f"owner{f % 997}"), _hash(f"app{f % 4999}"), _hash(f"function{f}"))
            yield ",".join([*keys, TRIGGERS[f % 5], *map(str, counts.tolist())]) + "\n"


def azure2021_by_end(rows: int, functions: int, seed: int = 0) -> Iterator[str]:
    """Lines of ``rows`` invocations in the 2021 format over one day, from
    ``functions`` functions (Zipf-like popularity), ordered by end time."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, functions + 1) ** 0.9
    which = rng.choice(functions, rows, p=weights / weights.sum())
    durations = np.round(rng.lognormal(-1.0, 1.5, rows), 3)
    ends = np.round(rng.uniform(0.0, 86_400.0, rows) + durations, 6)
    keys = [(_hash(f"app{f % 119}"), _hash(f"func{f}")) for f in range(functions)]
    yield ",".join(azure2021.HEADER) + "\n"
    for i in np.argsort(ends, kind="stable"):
        app, func = keys[which[i]]
        yield f"{app},{func},{ends[i]:.6f},{durations[i]:.3f}\n"


def write(path: Path, lines: Iterator[str]) -> Path:
    """Write ``lines`` to ``path``, one at a time."""
    with path.open("w") as handle:
        handle.writelines(lines)
    return path


def serving_processes(master: int) -> list[int]:
    """The gunicorn worker processes under ``master`` (Linux /proc)."""
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def reset_peaks(pids: list[int]) -> None:
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss(pids: list[int]) -> int:
    """The largest ``VmHWM`` (bytes) of ``pids``."""
    peaks = []
    for pid in pids:
        line = next(
            line
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmHWM:")
        )
        peaks.append(int(line.split()[1]) * 1024)
    return max(peaks)


@dataclass(frozen=True)
class Step:
    """One measured request: wall time (s), the serving processes' peak RSS
    and the answer's size (bytes)."""

    label: str
    seconds: float
    peak_bytes: int
    size_bytes: int


class Client:
    """Calls with the admin key, each on a new connection (the server
    closes idle ones after 2 s); measures each call."""

    def __init__(self, port: int, key: str, master: int) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {key}"}
        self.workers = serving_processes(master)

    def measured(
        self,
        label: str,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Step, bytes]:
        """One request (``body``: bytes or a binary file); raises unless it
        succeeds."""
        reset_peaks(self.workers)
        began = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        connection.blocksize = 1 << 16
        status, _, answer = call(
            connection, method, path, {**self.headers, **(headers or {})}, body
        )
        seconds = time.perf_counter() - began
        if status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {answer[:300]!r}")
        return Step(label, seconds, peak_rss(self.workers), len(answer)), answer


def upload(client: Client, trace: Path, query: dict[str, Any]) -> tuple[Step, dict[str, Any]]:
    """POST ``trace`` to ``/v1/workloads/upload`` (streamed from the file)."""
    path = "/v1/workloads/upload?" + urllib.parse.urlencode(query)
    with trace.open("rb") as handle:
        headers = {"Content-Type": "text/csv", "Content-Length": str(trace.stat().st_size)}
        step, created = client.measured("upload", "POST", path, body=handle, headers=headers)
    workload: dict[str, Any] = json.loads(created)
    return step, workload


def download(client: Client, workload: dict[str, Any]) -> list[Step]:
    """The workload's arrivals as ``.npz`` and as JSON pages of the largest
    size; both must hold every arrival."""
    arrivals = f"/v1/workloads/{workload['id']}/arrivals"
    npz, archive = client.measured("download .npz", "GET", arrivals + "?format=npz")
    with tempfile.NamedTemporaryFile(suffix=".npz") as saved:
        saved.write(archive)
        saved.flush()
        assert load_workload(saved.name).num_requests == workload["num_requests"]
    pages: list[Step] = []
    received = 0
    link: str | None = arrivals + "?limit=1000000"
    while link is not None:
        step, body = client.measured("download JSON page", "GET", link)
        page = json.loads(body)
        received += len(page["arrivals_s"])
        pages.append(step)
        link = page["next"]
    assert received == workload["num_requests"]
    paged = Step(
        f"download JSON ({len(pages)} pages)",
        sum(p.seconds for p in pages),
        max(p.peak_bytes for p in pages),
        sum(p.size_bytes for p in pages),
    )
    return [npz, paged]


def measure(url: str, key: str, trace: Path, query: dict[str, Any]) -> list[Step]:
    """Upload ``trace`` on a fresh server, then download its arrivals on
    another: a process keeps the memory an upload freed, which would hide
    what a download costs."""
    with serving(url) as (port, master):
        client = Client(port, key, master)
        idle = Step("server idle", 0.0, peak_rss(client.workers), 0)
        uploaded, workload = upload(client, trace, query)
    with serving(url) as (port, master):
        downloads = download(Client(port, key, master), workload)
    size = trace.stat().st_size / MIB
    print(f"{query['name']}: {size:.0f} MiB trace, {workload['num_requests']} arrivals", flush=True)
    return [idle, uploaded, *downloads]


def run_backend(name: str, url: str, day: Path, invocations: Path) -> bool:
    """Both traces on one database; prints the steps; whether the
    downloads met the target."""
    key, _ = prepare(url)
    whole_day = {"models": "m0,m1", "end": "1.0.0"}
    steps = {
        "azure2019 full day": measure(
            url, key, day, {"name": "azure2019", "format": "azure2019", **whole_day}
        ),
        "azure2021 end order": measure(
            url,
            key,
            invocations,
            {"name": "azure2021", "format": "azure2021", "replay": "false", **whole_day},
        ),
    }
    for trace, measured in steps.items():
        for step in measured:
            print(
                f"{name:<10} {trace:<20} {step.label:<26} {step.seconds:7.2f} s"
                f"  peak RSS {step.peak_bytes / MIB:5.0f} MiB  body {step.size_bytes / MIB:6.1f} MiB"
            )
    worst = max(s.peak_bytes for m in steps.values() for s in m if s.label.startswith("download"))
    met = worst < TARGET_PEAK_BYTES
    print(
        f"{name:<10} downloads: largest peak RSS {worst / MIB:.0f} MiB; "
        f"target < 300 MiB {'met' if met else 'MISSED'}",
        flush=True,
    )
    return met


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.traces")
    parser.add_argument("--quick", action="store_true", help="smaller traces")
    args = parser.parse_args(argv)
    functions, per_minute, rows = (
        (4_000, 700.0, 90_000) if args.quick else (40_000, 7_000.0, 900_000)
    )
    with tempfile.TemporaryDirectory() as workdir:
        folder = Path(workdir)
        began = time.perf_counter()
        day = write(folder / "day.d01.csv", azure2019_day(functions, per_minute))
        invocations = write(folder / "invocations.txt", azure2021_by_end(rows, 400))
        print(f"traces generated in {time.perf_counter() - began:.1f} s", flush=True)
        for backend, url in databases(folder):
            run_backend(backend, url, day, invocations)


if __name__ == "__main__":
    main(sys.argv[1:])
