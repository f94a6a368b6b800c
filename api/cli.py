"""The ``meshplan`` command line. Each command group lives in its own module
under :mod:`api.commands`; this file only wires them together."""

from __future__ import annotations

import logging

import click

from api.commands import COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """meshplan: plan and serve many models on a GPU cluster with model parallelism."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for command in COMMANDS:
    main.add_command(command)
