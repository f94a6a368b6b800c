"""Write the small Azure-format sample traces in this folder, seeded and
reproducible (nothing is downloaded):

- ``azure2019_sample.csv``: 2019 per-minute counts format, 40 functions x
  1440 minutes of one day; Zipf-like popularity, a daily cycle, a few timer
  functions with a flat count and some functions idle in the first hour.
- ``azure2021_sample.csv``: 2021 invocation format, about 4000 rows over
  three hours from 12 functions in 5 apps (Gamma arrivals with CVs from 0.5
  to 4), in end order (``end_timestamp``) as the published trace is, so
  arrivals (end - duration) are not in order.

Run ``python examples/make_samples.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from planner.workloads import azure2019, azure2021, gamma_arrivals

SEED = 2023
TRIGGERS = ("http", "timer", "queue", "event", "storage", "orchestration", "others")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def azure2019_lines(seed: int = SEED, functions: int = 40) -> list[str]:
    """The lines of the 2019 sample (header first)."""
    rng = np.random.default_rng(seed)
    minute = np.arange(azure2019.MINUTES_PER_DAY)
    daily = 1.0 + 0.6 * np.sin(2 * np.pi * (minute - 360) / azure2019.MINUTES_PER_DAY)
    lines = [",".join(azure2019.HEADER) + "\n"]
    for f in range(functions):
        trigger = TRIGGERS[f % len(TRIGGERS)]
        if trigger == "timer":
            counts = np.ones(minute.size, dtype=np.int64)
        else:
            mean = 6.0 / (f + 1) ** 0.9
            counts = rng.poisson(mean * daily)
            if f % 5 == 4:
                counts[:60] = 0
        owner, app = _hash(f"owner{f % 9}"), _hash(f"app{f % 17}")
        fields = [owner, app, _hash(f"function{f}"), trigger, *map(str, counts)]
        lines.append(",".join(fields) + "\n")
    return lines


def azure2021_lines(seed: int = SEED, duration_s: float = 10800.0) -> list[str]:
    """The lines of the 2021 sample (header first), ordered by end time."""
    rng = np.random.default_rng(seed)
    cvs = (0.5, 1.0, 2.0, 4.0)
    arrivals: list[np.ndarray] = []
    functions: list[tuple[str, str]] = []
    for f in range(12):
        rate = 0.07 / (f + 1) ** 0.8
        arrivals.append(np.round(gamma_arrivals(rate, cvs[f % 4], duration_s, rng), 6))
        functions.append((_hash(f"app{f % 5}"), _hash(f"func{f}")))
    times = np.concatenate(arrivals)
    which = np.repeat(np.arange(len(arrivals)), [a.size for a in arrivals])
    durations = np.round(rng.lognormal(-1.5, 1.0, times.size), 3)
    ends = np.round(times + durations, 6)
    lines = [",".join(azure2021.HEADER) + "\n"]
    for i in np.lexsort((which, ends)):
        app, func = functions[which[i]]
        lines.append(f"{app},{func},{ends[i]:.6f},{durations[i]:.3f}\n")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for name, lines in (
        ("azure2019_sample.csv", azure2019_lines()),
        ("azure2021_sample.csv", azure2021_lines()),
    ):
        (out / name).write_text("".join(lines))
        print(f"wrote {out / name} ({len(lines) - 1} rows)")


if __name__ == "__main__":
    main()
