"""Command groups of the ``meshplan`` CLI, one module each, loaded only when
used so that ``meshplan <command>`` imports just what that command needs.

Add a command by listing it in ``COMMANDS``: its name, ``module:attribute``
of the click command, and the one-line help shown by ``meshplan --help``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import click


@dataclass(frozen=True)
class CommandEntry:
    """Where a top-level command lives and how ``--help`` describes it."""

    target: str
    help: str

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


COMMANDS: dict[str, CommandEntry] = {
    "workload": CommandEntry("api.commands.workload:workload", "Generate and inspect workloads."),
    "profile": CommandEntry(
        "api.commands.profile:profile", "Show, build and measure model profiles."
    ),
    "simulate": CommandEntry(
        "api.commands.simulate:simulate_command", "Simulate a plan on a workload."
    ),
    "plan": CommandEntry("api.commands.plan:plan_command", "Solve a placement with any solver."),
    "capacity": CommandEntry(
        "api.commands.capacity:capacity_command", "Find the fewest devices for a target."
    ),
    "replan": CommandEntry(
        "api.commands.replan:replan_command", "Re-place models window by window."
    ),
    "traffic": CommandEntry("api.commands.live:traffic", "Show a cluster's observed traffic."),
    "replanner": CommandEntry(
        "api.commands.live:replanner_command", "Show or set a cluster's live re-planner."
    ),
    "experiment": CommandEntry(
        "api.commands.experiment:experiment", "Run the re-placement experiment."
    ),
    "report": CommandEntry("api.commands.report:report", "Write comparison reports as HTML."),
    "db": CommandEntry("api.commands.service:db", "Migrate and check the database."),
    "keys": CommandEntry("api.commands.service:keys_group", "Create API keys."),
    "serve": CommandEntry("api.commands.service:serve_command", "Run the planning API."),
    "worker": CommandEntry("api.commands.service:worker_command", "Run a solve-job worker."),
    "agent": CommandEntry("api.commands.executor:agent_command", "Run an executor agent."),
    "router": CommandEntry("api.commands.executor:router_command", "Route requests over agents."),
    "replay": CommandEntry(
        "api.commands.replay:replay_command", "Replay a workload through a router."
    ),
    "demo": CommandEntry("api.commands.demo:demo_command", "Run the end-to-end demo."),
}
