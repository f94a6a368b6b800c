"""Command groups of the ``meshplan`` CLI, one module each. Add a command by
importing it here and listing it in ``COMMANDS``."""

from __future__ import annotations

import click

from api.commands.demo import demo_command
from api.commands.executor import agent_command, measure_command, router_command
from api.commands.experiment import experiment
from api.commands.plan import plan_command
from api.commands.profile import profile
from api.commands.report import report
from api.commands.service import COMMANDS as SERVICE_COMMANDS
from api.commands.simulate import simulate_command
from api.commands.workload import workload

profile.add_command(measure_command)

COMMANDS: list[click.Command] = [
    workload,
    simulate_command,
    plan_command,
    profile,
    agent_command,
    router_command,
    report,
    experiment,
    demo_command,
    *SERVICE_COMMANDS,
]
