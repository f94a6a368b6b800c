"""The CLI root: every listed command loads lazily and answers --help."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from api.cli import main
from api.commands import COMMANDS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_loads_under_its_name(name: str) -> None:
    command = COMMANDS[name].load()
    assert command.name == name
    result = CliRunner().invoke(main, [name, "--help"], prog_name="meshplan")
    assert result.exit_code == 0, result.output
    assert f"meshplan {name}" in result.output


def test_root_help_lists_commands_without_importing_them() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from api.cli import main;"
        "r = CliRunner().invoke(main, ['--help']); print(r.output);"
        "print('HEAVY' if any(m in sys.modules for m in ('numba', 'sqlalchemy', 'jax')) else 'LIGHT')"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for name, entry in COMMANDS.items():
        assert f"{name}" in output and entry.help in output
    assert output.strip().endswith("LIGHT")


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["nosuch"])
    assert result.exit_code == 2
    assert "No such command 'nosuch'" in result.output


def test_python_m_api_cli_runs_the_command_line() -> None:
    # `python -m api.cli` is the same program as the `meshplan` script
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "plan and serve many models" in done.stdout
