"""Helpers shared by CLI commands: reading JSON inputs (through
:mod:`planner.files`) with errors that name the file and field, the shipped
examples, printing tables, and ``--json`` output."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from planner import files
from planner.domain import Cluster

T = TypeVar("T")
C = TypeVar("C", bound=Callable[..., Any])

INPUT_FILE = click.Path(exists=True, dir_okay=False)
"""An input file option's type: the file must exist."""

AZURE2019_SAMPLE = "azure2019_sample.csv"
"""The shipped Azure Functions 2019 sample trace, in :func:`default_examples`."""


class _Seconds(click.ParamType):
    """A finite number of seconds > 0."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(seconds) and seconds > 0):
            self.fail(f"{value!r} is not a finite number > 0", param, ctx)
        return seconds


SECONDS = _Seconds()
"""The type of every time limit option (seconds, finite, > 0)."""


class SolverChoice(click.Choice[str]):
    """A solver name among ``choices``; an old spelling of a MILP backend as
    a solver (``milp-highs``) is refused with how to ask for it now."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from planner.placement.options import backend_hint

        hint = backend_hint(value) if isinstance(value, str) else ""
        if hint and value not in self.choices:
            self.fail(f"{value!r} is not a solver{hint}", param, ctx)
        return str(super().convert(value, param, ctx))


console = Console(stderr=False)


def default_examples() -> Path:
    """``examples/`` of the working folder, else of the source tree."""
    here = Path("examples")
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "examples"


@contextmanager
def usage_errors() -> Iterator[None]:
    """Turn a ValueError (which names the file and field) into a usage error."""
    try:
        yield
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def load(path: str | Path, parse: Callable[[Any], T]) -> T:
    """Read ``path`` as JSON and turn it into a value with ``parse``
    (:func:`planner.files.load_json`); errors are usage errors."""
    with usage_errors():
        return files.load_json(path, parse)


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing file or bad JSON is a usage error."""
    return load(path, lambda data: data)


def load_cluster(path: str | Path) -> Cluster:
    """The cluster file at ``path``; errors are usage errors."""
    with usage_errors():
        return files.load_cluster(path)


def write_json(data: Any, path: str | Path | None) -> None:
    """Write JSON to ``path``, or to standard output when ``path`` is None or '-'."""
    if path is None or str(path) == "-":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        files.write_json(path, data, indent=2)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a rich table; floats are shown with 4 significant digits."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


@contextmanager
def fraction_bar(console: Console, label: str) -> Iterator[Callable[[float, str], None]]:
    """A progress bar on ``console`` (shown on a terminal only), updated by
    ``update(fraction done in [0, 1], message)``."""
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(label, total=1.0)

        def update(fraction: float, message: str) -> None:
            bar.update(task, completed=fraction, description=message[:60])

        yield update


def planning_options(required: bool = True) -> Callable[[C], C]:
    """The ``--cluster``, ``--models`` and ``--workload`` file options
    (passed as ``cluster_path``, ``models_path``, ``workload_path``) of a
    command that plans or simulates; ``required=False`` where the command
    can take its inputs elsewhere."""
    options = (
        click.option(
            "--cluster", "cluster_path", type=INPUT_FILE, required=required, help="Cluster JSON."
        ),
        click.option(
            "--models",
            "models_path",
            type=INPUT_FILE,
            required=required,
            help='Models JSON {"models": [...]}.',
        ),
        click.option(
            "--workload",
            "workload_path",
            type=INPUT_FILE,
            required=required,
            help="Workload .json or .npz.",
        ),
    )

    def add(command: C) -> C:
        for option in reversed(options):
            command = option(command)
        return command

    return add


planning_inputs = planning_options()
"""The required ``--cluster``, ``--models`` and ``--workload`` options."""
