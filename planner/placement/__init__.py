"""Placement: one static plan for one problem instance.
:func:`planner.placement.solve.solve` is the entry point; greedy and
enumeration (AlpaServe's algorithms), the exact CP-SAT/MILP formulations
seeded by greedy, the Selective Replication baseline and the attainment
bound sit beside it."""
