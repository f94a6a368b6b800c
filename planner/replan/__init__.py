"""Time-varying plans: re-placement over workload windows, paying the cost
of moving weights (:mod:`planner.replan.loop`), and the Clockwork++ baseline
(:mod:`planner.replan.clockwork`), behind one entry point
(:func:`planner.replan.timed.plan_over_time`), with the forecasters, the
transition judge and the solve cache they use."""
