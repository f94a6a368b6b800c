"""Which evaluation work goes to a cluster: a report's sweep points and an
experiment's cases run on the fan-out (:mod:`planner.fanout`) that their
solver options name when it is ``ray``; with the ``local`` backend they run
one after another in this process, as each solve may itself use the local
process pool (whose workers cannot start pools of their own).

On Ray, the solves inside a point or case run where the task runs, with
backend ``local`` and ``workers=1`` (a task holds one CPU); their results
equal the local run's (the enumeration's depend neither on where its blocks
run nor on how many workers run them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.fanout import FanOut, fan_out
from planner.placement.options import split_options


def remote_fan_out(options: Mapping[str, Any]) -> tuple[FanOut | None, dict[str, Any]]:
    """``(the Ray fan-out, options for the solves inside its tasks)`` when
    the loose solver ``options`` ask for backend ``ray``; ``(None,
    options)`` otherwise. ValueError naming the option when Ray cannot run."""
    _, solving = split_options(options)
    if solving.backend == "local":
        return None, dict(options)
    runner = fan_out(solving.backend, workers=solving.workers, address=solving.ray_address)
    inner = {key: value for key, value in options.items() if key != "ray_address"}
    return runner, {**inner, "backend": "local", "workers": 1}
