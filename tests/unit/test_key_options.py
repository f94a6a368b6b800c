"""API keys need not be on the command line: ``--key``, else ``--key-file``,
else ``$MESHPLAN_API_KEY``; an empty key file or no key at all is a usage
error."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from api.cli import main
from api.commands.secrets import api_key_options


@click.command()
@api_key_options
def show(key: str) -> None:
    click.echo(f"key={key}")


def invoke(args: list[str], env: dict[str, str | None]) -> tuple[int, str]:
    result = CliRunner().invoke(show, args, env=env)
    return result.exit_code, result.output


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    path = tmp_path / "key"
    path.write_text("from-file\n")
    return str(path)


def test_the_environment_serves_when_no_option_is_given() -> None:
    assert invoke([], {"MESHPLAN_API_KEY": "from-env"}) == (0, "key=from-env\n")


def test_a_key_file_wins_over_the_environment(key_file: str) -> None:
    assert invoke(["--key-file", key_file], {"MESHPLAN_API_KEY": "from-env"}) == (
        0,
        "key=from-file\n",
    )


def test_key_on_the_command_line_wins_over_the_environment() -> None:
    assert invoke(["--key", "typed"], {"MESHPLAN_API_KEY": "from-env"}) == (0, "key=typed\n")


def test_both_options_are_refused(key_file: str) -> None:
    code, output = invoke(["--key", "typed", "--key-file", key_file], {})
    assert code == 2 and "give --key or --key-file, not both" in output


def test_an_empty_key_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text(" \n")
    code, output = invoke(["--key-file", str(empty)], {"MESHPLAN_API_KEY": "from-env"})
    assert code == 2 and "--key-file" in output and "the file is empty" in output


def test_no_key_at_all_names_where_to_put_one() -> None:
    code, output = invoke([], {"MESHPLAN_API_KEY": None})
    assert code == 2 and "no API key: give --key-file, set MESHPLAN_API_KEY" in output


@pytest.mark.parametrize("command", [["agent"], ["router"], ["profile", "measure"]])
def test_every_command_with_an_api_key_takes_a_key_file(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and re.search(r"^\s+--key-file\b", result.output, re.MULTILINE)


def test_api_and_inference_key_files_reach_different_parameters() -> None:
    from api.commands.executor import agent_command, router_command

    for command in (agent_command, router_command):
        names = [param.name for param in command.params]
        assert len(names) == len(set(names))
        assert {"api_key_file", "inference_key_file"} <= set(names)


@pytest.mark.parametrize("given", [["--coordinator", "127.0.0.1:1"], ["--process-id", "1"]])
def test_an_agent_joins_a_jax_cluster_only_with_both_coordinator_and_process_id(
    given: list[str],
) -> None:
    args = ["agent", "--api", "http://127.0.0.1:9", "--cluster", "1", "--devices", "0", *given]
    result = CliRunner().invoke(main, args, env={"MESHPLAN_API_KEY": "k"})
    assert result.exit_code == 2
    assert "--coordinator and --process-id go together" in result.output
