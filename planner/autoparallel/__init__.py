"""Auto-parallelisation of BERT/MoE encoders for one parallel config: the
per-layer cost model, the intra-op sharding choice and the inter-op stage
split. The planner gets profiles from it; the executor builds its stages
and shardings from the same :class:`ParallelPlan`, so what runs is what was
planned.

Modules, each with its formulas in its docstring:

- :mod:`.architecture`: :class:`Architecture`, presets, the layer sequence
  ``("embed", "block0", ..., "block{L-1}")`` and every layer's weights
  (shape + logical axes). Weight bytes = parameters x ``dtype_bytes``;
  1 GB = 10**9 bytes.
- :mod:`.device`: :class:`DeviceModel` (V100-class defaults),
  :data:`DEFAULT_MEM_BUDGET_BYTES` (20 GB) and collectives: ring
  all-reduce ``2 (n-1) alpha + 2 (n-1)/n B/bw``, all-gather and all-to-all
  ``(n-1) alpha + (n-1)/n B/bw``.
- :mod:`.sharding`: :class:`ShardingRules` (logical axis -> ``"op"`` or
  None) and the candidates: vocab-parallel embedding, head-parallel
  attention, Megatron MLP (``w_in`` column-, ``w_out`` row-parallel),
  expert- or tensor-parallel MoE, replicated.
- :mod:`.costs`: per sub-layer FLOPs (attention ``8 s h^2 + 4 s^2 h``, MLP
  ``4 s h f``, MoE ``2 s h E + 4 k s h f``, per item, divided by ``op``
  where split), weight and activation bytes, and the roofline latency
  ``max(b FLOPs / (peak x efficiency), bytes moved / mem_bw) + collectives``
  (one all-reduce of an activation ``p b s h`` per split sub-layer; for
  expert parallelism two all-to-alls of ``k p b s h / op`` and one
  all-gather of ``p b s h``).
- :mod:`.split`: the exact min-max DP over contiguous stages
  ``D[k][j] = min_i max(D[k-1][i], T_k(i, j))`` under per-stage memory
  ``sum weights + max_batch x max act <= cap``; :mod:`.split_cpsat` the same
  as a CP-SAT model with pinned layers.
- :mod:`.plan`: :func:`plan_parallel` (best-ranked rules whose split fits),
  stage hand-off ``alpha + p b s h / bw`` (inter-node across nodes),
  :func:`plan_configs`, :func:`enumerate_configs`, :func:`to_profile`.
- :mod:`.timings`: measured per-layer latencies in place of the model.
"""

from planner.autoparallel.architecture import (
    BERT_1_3B,
    BERT_2_6B,
    BERT_6_7B,
    GB,
    MOE_1_3B,
    MOE_2_4B,
    PRESETS,
    TINY_BERT,
    TINY_MOE,
    Architecture,
    ParamSpec,
    is_moe_block,
    layer_kind,
    layer_names,
    layer_params,
    preset,
)
from planner.autoparallel.costs import LayerCost, layer_cost, layer_costs, rank_rules
from planner.autoparallel.device import DEFAULT_MEM_BUDGET_BYTES, DeviceModel
from planner.autoparallel.plan import (
    DEGREES,
    DoesNotFit,
    ParallelPlan,
    StagePlan,
    enumerate_configs,
    handoff_s,
    plan_configs,
    plan_parallel,
    to_profile,
)
from planner.autoparallel.problem import SplitProblem, SplitTimeout, StageSplit, validate_split
from planner.autoparallel.sharding import (
    LOGICAL_AXES,
    MESH_AXIS,
    REPLICATED,
    ShardingRules,
    candidate_rules,
    strategies,
)
from planner.autoparallel.split import split_stages, split_stages_cpsat
from planner.autoparallel.timings import LayerTimings

__all__ = [
    "BERT_1_3B",
    "BERT_2_6B",
    "BERT_6_7B",
    "DEFAULT_MEM_BUDGET_BYTES",
    "DEGREES",
    "GB",
    "LOGICAL_AXES",
    "MESH_AXIS",
    "MOE_1_3B",
    "MOE_2_4B",
    "PRESETS",
    "REPLICATED",
    "TINY_BERT",
    "TINY_MOE",
    "Architecture",
    "DeviceModel",
    "DoesNotFit",
    "LayerCost",
    "LayerTimings",
    "ParallelPlan",
    "ParamSpec",
    "ShardingRules",
    "SplitProblem",
    "SplitTimeout",
    "StagePlan",
    "StageSplit",
    "candidate_rules",
    "enumerate_configs",
    "handoff_s",
    "is_moe_block",
    "layer_cost",
    "layer_costs",
    "layer_kind",
    "layer_names",
    "layer_params",
    "plan_configs",
    "plan_parallel",
    "preset",
    "rank_rules",
    "split_stages",
    "split_stages_cpsat",
    "strategies",
    "to_profile",
    "validate_split",
]
