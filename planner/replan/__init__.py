"""Re-placement: a sequence of placements over workload windows, paying
the cost of moving weights (:func:`planner.replan.loop.replan`), with the
forecasters, the transition judge and the solve cache it uses."""
