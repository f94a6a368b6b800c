"""Harness for the demo, tests and benchmarks: the product's processes
deployed on 127.0.0.1 (:mod:`harness.loopback`) and throw-away PostgreSQL
schemas (:mod:`harness.scratch`). Not imported by the service itself."""
