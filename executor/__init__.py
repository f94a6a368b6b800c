"""The executor fleet: JAX agents that pull plans and really serve them.

Model runtime (no I/O):

- :mod:`.zoo`: BERT/MoE encoders, weights as pytrees built from the
  planner's weight declarations;
- :mod:`.sharding`: a group's stage meshes and the logical-axis rules;
- :mod:`.replica`: a model laid out as a :class:`ParallelPlan` says;
- :mod:`.runtime`: padded batch buckets and measured stage latencies.

Serving: :mod:`.schedule` (batching and SLO-aware admission, pure),
:mod:`.group` (stage threads of one group), :mod:`.host` (an agent's
groups), :mod:`.request`, :mod:`.metrics`; over HTTP, :mod:`.endpoint`
(what the agent's and the router's apps share: problems, keys, body cap),
:mod:`.server` (their routes) and :mod:`.wsgi` (the server they run on).

Fleet: :mod:`.agent` (plan pull; transitions applied while serving, in
the order :mod:`.moves` gives), :mod:`.api_client`, :mod:`.router`,
:mod:`.traffic` (arrivals per model in bins, reported to the API),
:mod:`.profiler` and :mod:`.replay`.
"""
