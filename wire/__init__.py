"""HTTP conventions the planning API and the inference endpoints (agents
and router) share: error answers as problem details (:mod:`.problems`) and
keys presented as bearer credentials (:mod:`.bearer`). It imports Flask and
nothing of the project, so ``api`` and ``executor`` may both import it."""
