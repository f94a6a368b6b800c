"""One vocabulary across the CLI, checked by walking every command's
parameters: a file or folder a command writes is ``-o``/``--output`` (a
folder says so in its help), a forecaster is ``--forecaster``, solver
choices name the MILP solver ``milp`` (its backend is an option), and a
trace time's help spells out ``day.hour.minute``."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from api.cli import main
from api.commands import COMMANDS


def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    """``(meshplan path, command)`` for the command and every subcommand."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, f"{path} {name}")


COMMAND_PATHS = dict(
    pair for name, entry in sorted(COMMANDS.items()) for pair in walk(entry.load(), name)
)
OPTIONS = [
    (path, param)
    for path, command in COMMAND_PATHS.items()
    for param in command.params
    if isinstance(param, click.Option)
]


def names(param: click.Option) -> set[str]:
    return {*param.opts, *param.secondary_opts}


def test_the_walk_sees_every_command() -> None:
    assert {"report compare", "report render", "replan", "plan", "demo", "profile measure"} <= set(
        COMMAND_PATHS
    )


@pytest.mark.parametrize(("path", "param"), OPTIONS, ids=lambda v: getattr(v, "name", v))
def test_option_vocabulary(path: str, param: click.Option) -> None:
    spelled = names(param)
    assert not spelled & {"--out", "--forecast", "--output-dir", "--out-dir"}, (path, spelled)
    if "--output" in spelled or "-o" in spelled:
        assert spelled == {"-o", "--output"}, (path, spelled)
        assert param.help, path
        if isinstance(param.type, click.Path) and not param.type.file_okay:
            assert "folder" in param.help.lower(), (path, param.help)
    if "forecast" in (param.name or ""):
        assert spelled == {"--forecaster"}, (path, spelled)
    if isinstance(param.type, click.Choice) and "--solver" in spelled:
        assert "milp" in param.type.choices, path
        assert not [c for c in param.type.choices if str(c).startswith("milp-")], path
    if spelled & {"--start", "--end"}:
        assert param.help and "day.hour.minute" in param.help and "'0.0.5'" in param.help


def test_every_file_writing_option_is_output() -> None:
    """Options that take a path to write (a click.Path without ``exists``)
    are ``--output``, except the commands' inputs that may not exist yet."""
    writers = [
        (path, sorted(names(param)))
        for path, param in OPTIONS
        if isinstance(param.type, click.Path)
        and not param.type.exists
        and not {"--trace", "--examples"} & names(param)
    ]
    assert writers and all(spelled == ["--output", "-o"] for _, spelled in writers), writers


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["replan", "--forecast", "holt"], "--forecaster"),
        (["report", "render", "--out", "x"], "--output"),
    ],
)
def test_old_spellings_are_refused_with_the_new_name(args: list[str], suggestion: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "No such option" in result.output and suggestion in result.output


def test_an_old_milp_solver_name_says_how_to_ask_for_its_backend() -> None:
    result = CliRunner().invoke(
        main,
        ["plan", "--solver", "milp-highs", "--cluster", "x", "--models", "x", "--workload", "x"],
    )
    assert result.exit_code == 2
    assert "'milp-highs' is solver 'milp' with option milp_backend=highs" in result.output
