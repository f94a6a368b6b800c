"""Command groups of the ``meshplan`` CLI, one module each. Add a command by
importing it here and listing it in ``COMMANDS``."""

from __future__ import annotations

import click

from api.commands.experiment import experiment
from api.commands.plan import plan_command
from api.commands.profile import profile
from api.commands.service import COMMANDS as SERVICE_COMMANDS
from api.commands.simulate import simulate_command
from api.commands.workload import workload

COMMANDS: list[click.Command] = [
    workload,
    simulate_command,
    plan_command,
    profile,
    experiment,
    *SERVICE_COMMANDS,
]
