"""Discrete-event serving simulator: the referee for every plan.

Semantics (both engines implement exactly this):

Requests are processed in arrival order, ties broken by request index. A
plan switch at ``T_k`` takes effect before any arrival at ``T_k``. For
request ``i`` of model ``m`` arriving at ``t`` with deadline
``t + slo_s(m)``:

1. Candidates are the groups of the placement in force at ``t`` that host
   ``m`` and whose replica of ``m`` is available at ``t`` (available from
   ``a`` means ``a <= t``). No group hosts ``m``: ``NO_REPLICA``. Hosted but
   every replica still loading: ``UNAVAILABLE``.
2. Group ``g`` runs config ``(op, pp)``; stage ``s`` of a batch of ``b``
   takes ``profile[config].latency_s[b - 1][s]``. Its state: ``free[s]``, when
   stage ``s`` finishes its last batch, and the *open batch*: the last batch
   dispatched to ``g`` if its stage-0 start is ``> t`` (still waiting), with
   its model, members and the stage free times from before it.
3. Predicted finish on ``g``: if the open batch is of model ``m``, has fewer
   members than the cap ``min(options.max_batch, profile max_batch)`` and
   re-running it from its saved free times with the latency for ``b + 1``
   keeps it within the earliest member deadline, the request joins it;
   otherwise it forms a new batch after ``g``'s current state. Either way
   stage 0 starts at ``max(t, free[0])``, stage ``s`` at ``max(end of stage
   s - 1, free[s])`` and the finish is the end of the last stage.
4. The request goes to the candidate with the earliest predicted finish,
   ties to the lowest group number. If that finish is after the deadline the
   request is ``DROPPED_SLO`` and changes nothing; otherwise it is committed
   (a join moves every member's finish to the batch's new finish). Every
   served request therefore finishes within its SLO.
5. Timed plans: step 0 is in place at time 0 (its replicas are available
   from 0). At a later step start ``T_k``, a group with the same devices and
   config as a group of step ``k - 1`` keeps its state (free times, open
   batch) and the availability of the models it keeps; the models newly
   added to it load one after another in ``group.models`` order, the
   ``j``-th available at ``T_k`` plus the sum of
   ``cluster.load_time_s(profile[config].weight_bytes)`` over the new models
   up to ``j``. Any other group is new: it starts idle (``free = T_k``) and
   loads all its models that way. Loading does not occupy the stages, and
   step ``k``'s loads start at ``T_k`` even if loads of an earlier step are
   still running. Requests already admitted to a removed group or model
   finish as scheduled; a new group on the same devices does not wait for
   them.

Points 2-4 are the ``fcfs`` policy. The ``slack`` policy (SLO-aware
preemption, ``SimOptions(policy="slack")``) changes the queue: a group's
state is ``free[s]`` after the batches whose stage 0 has started (start
``<= t``) and the *waiting* batches, kept least slack first: by ``deadline -
sum of the batch's stage latencies at its size`` (earliest member deadline;
stage latencies added in stage order), ties to the older batch. A waiting
batch runs from ``free`` in that order, each stage as in point 3 with ready
time ``t``. The request's options on ``g`` are joining each waiting batch of
``m`` with fewer members than the cap (in queue order), then a new batch; an
option is feasible when, with the queue re-sorted, *every* waiting batch
(and so the request) finishes by its deadline. The group offers the
feasible option with the earliest finish for the request (first on ties);
routing is point 4, and a request no candidate can serve in time is
``DROPPED_SLO`` (hopeless requests are dropped at arrival; an admitted one
is never made late). A committed request thus overtakes (preempts the
queue place of) waiting batches with more slack; running stages are never
interrupted.

Metrics (:class:`SimResult`): a request is scored when it arrives in
``[warmup_s, duration_s - cooldown_s)``; attainment = served scored requests
/ scored requests (1.0 when none is scored); a group's utilisation = busy
stage-seconds / (pp × duration_s), counting all work of the batches it ran,
also the part that finishes after ``duration_s`` (so it may slightly exceed 1).

Groups are numbered over the whole plan (see :mod:`planner.sim.compile`):
steps in order, groups in placement order, a group continuing from the
previous step keeps its number, any other gets the next one.

Entry points: :func:`simulate` for one run; :func:`compile_case` to compile
an :class:`Instance` (cluster, models, workload, options; checked once) and
evaluate many plans (``Case.run``, or ``Case.attainment`` for just the
score), which is what a search should call.
Lowest level: :func:`compile_plan` plus ``planner.sim.fast.KERNELS[policy]``
run on a :class:`CompiledWorkload` (possibly a subset of the requests, in
arrival order) and return the raw :class:`EngineOutput`.
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.domain import Cluster, ModelSpec, Placement, TimedPlan, Workload
from planner.sim.compile import (
    CompiledPlan,
    CompiledWorkload,
    GroupSlot,
    compile_plan,
    compile_workload,
    number_groups,
)
from planner.sim.fast import KERNELS
from planner.sim.instance import Instance, check_models
from planner.sim.options import ENGINES, POLICIES, Outcome, SimOptions
from planner.sim.reference import ReferenceSimulator
from planner.sim.result import EngineOutput, SimResult
from planner.validation import validate, validate_plan

__all__ = [
    "DEFAULT_OPTIONS",
    "ENGINES",
    "POLICIES",
    "Case",
    "CompiledPlan",
    "CompiledWorkload",
    "EngineOutput",
    "GroupSlot",
    "Instance",
    "Outcome",
    "SimOptions",
    "SimResult",
    "check_models",
    "compile_case",
    "compile_plan",
    "compile_workload",
    "number_groups",
    "simulate",
]


DEFAULT_OPTIONS = SimOptions()


def as_timed_plan(plan: Placement | TimedPlan) -> TimedPlan:
    """A placement is a one-step timed plan."""
    return plan if isinstance(plan, TimedPlan) else TimedPlan.static(plan)


class Case:
    """An instance compiled once; evaluate any number of plans against it.
    Build with :func:`compile_case`."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.work = compile_workload(instance)

    def check(self, plan: Placement | TimedPlan) -> TimedPlan:
        """Validate ``plan`` against the cluster and models (ValueError naming
        the field) and return it as a timed plan."""
        cluster, models = self.instance.cluster, self.instance.models
        if isinstance(plan, TimedPlan):
            validate_plan(cluster, models, plan)
            return plan
        validate(cluster, models, plan)
        return as_timed_plan(plan)

    def output(self, plan: TimedPlan, engine: str = "fast") -> EngineOutput:
        """Raw engine output for an already validated plan."""
        instance = self.instance
        if engine == "fast":
            compiled = compile_plan(
                instance.cluster, instance.models, plan, instance.options.max_batch
            )
            return KERNELS[instance.options.policy](compiled, self.work)
        if engine == "reference":
            return ReferenceSimulator(instance, plan).run().output
        raise ValueError(f"engine: unknown {engine!r}, expected one of {list(ENGINES)}")

    def run(
        self, plan: Placement | TimedPlan, *, engine: str = "fast", check: bool = True
    ) -> SimResult:
        """Simulate ``plan``; ``check=False`` skips validation (the caller
        guarantees the plan fits)."""
        timed = self.check(plan) if check else as_timed_plan(plan)
        slots, _ = number_groups(timed)
        return SimResult.build(self.output(timed, engine), self.work, slots)

    def attainment(self, plan: Placement | TimedPlan, *, check: bool = False) -> float:
        """SLO attainment of ``plan`` with the fast engine and nothing else
        computed (see :attr:`SimResult.attainment`); by default the plan is
        not validated, as a search validates its own moves."""
        timed = self.check(plan) if check else as_timed_plan(plan)
        outcome = self.output(timed).outcome
        scored = self.work.scored
        total = int(scored.sum())
        return int((outcome[scored] == Outcome.SERVED).sum()) / total if total else 1.0


def compile_case(instance: Instance) -> Case:
    """Compile what stays fixed while a search tries plans."""
    return Case(instance)


def simulate(
    cluster: Cluster,
    models: Sequence[ModelSpec],
    plan: Placement | TimedPlan,
    workload: Workload,
    options: SimOptions = DEFAULT_OPTIONS,
    *,
    engine: str = "fast",
) -> SimResult:
    """Check the instance (:class:`Instance`) and ``plan`` (ValueError naming
    the field when it does not fit memory or names an unknown model) and
    simulate serving ``workload`` with it. ``engine`` is ``"fast"`` (numba)
    or ``"reference"`` (readable Python); they agree exactly."""
    instance = Instance(cluster, tuple(models), workload, options)
    return compile_case(instance).run(plan, engine=engine)
