"""A group serving a tiny model: batching, admission, answers, draining,
and the HTTP endpoint's status codes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from executor.group import GroupServer
from executor.host import Host
from executor.replica import reference_forward
from executor.request import Request, ServeError
from executor.runtime import ModelRuntime
from executor.server import create_app
from tests.executor.helpers import assert_problem, gated
from tests.executor.tiny import ARCH, SEED, tiny_group, tiny_runtime, tokens


@pytest.fixture(scope="module")
def runtime() -> ModelRuntime:
    return tiny_runtime()


@pytest.fixture
def group(runtime: ModelRuntime) -> Iterator[GroupServer]:
    served = tiny_group(runtime)
    yield served
    served.stop()
    served.join(10)


@pytest.fixture
def host(group: GroupServer) -> Host:
    serving = Host()
    serving.add_group(group)
    return serving


def test_buckets_and_latencies_cover_every_batch_size(runtime: ModelRuntime) -> None:
    assert runtime.buckets == (1, 2, 4)
    assert [runtime.bucket(r) for r in (1, 2, 3, 4)] == [1, 2, 4, 4]
    assert all(len(runtime.latency_s(r)) == 2 and min(runtime.latency_s(r)) > 0 for r in (1, 4))
    with pytest.raises(ValueError, match=r"^rows: 5 exceeds max_batch=4"):
        runtime.bucket(5)


def test_queued_requests_are_batched_and_answered_with_their_own_rows(
    host: Host, runtime: ModelRuntime
) -> None:
    with gated(runtime) as held:
        first = host.submit("m", tokens(1, seed=1))
        assert held.wait(10)  # the first batch holds stage 0
        queued = [host.submit("m", tokens(rows, seed=2 + rows)) for rows in (1, 2)]
    for request, seed, rows in [(first, 1, 1), (queued[0], 3, 1), (queued[1], 4, 2)]:
        assert request.done.wait(30) and request.error is None
        expected = np.asarray(reference_forward(ARCH, SEED, tokens(rows, seed)))
        assert request.output is not None
        assert request.output["shape"] == [rows, ARCH.seq_len, ARCH.hidden]
        np.testing.assert_allclose(request.output["first_token"], expected[:, 0, :4], atol=1e-5)
        assert request.output["sum"] == pytest.approx(float(expected.sum()), abs=1e-3)
    assert first.batch_rows == 1
    assert queued[0].batch_rows == queued[1].batch_rows == 3  # joined while waiting


def test_a_request_that_cannot_meet_its_slo_is_rejected_at_once(
    host: Host, runtime: ModelRuntime, group: GroupServer
) -> None:
    with gated(runtime) as held:
        running = host.submit("m", tokens(1))
        assert held.wait(10)  # busy: a request now queues behind a running batch
        runtime.slo_s = 1e-6
        try:
            with pytest.raises(ServeError) as caught:
                host.submit("m", tokens(1))
        finally:
            runtime.slo_s = 30.0
        assert group.schedule.waiting == []  # the rejected request left no trace
    assert caught.value.status == 429 and caught.value.kind == "slo-unattainable"
    assert caught.value.retry_after_s is not None
    assert running.done.wait(30) and running.error is None


def test_stopping_a_group_answers_waiting_requests_with_a_retryable_error(
    host: Host, runtime: ModelRuntime, group: GroupServer
) -> None:
    with gated(runtime) as held:
        running = host.submit("m", tokens(1))
        assert held.wait(10)
        waiting = host.submit("m", tokens(1))
        group.stop()
        assert waiting.done.wait(5)
        assert waiting.error is not None and waiting.error.status == 503
        assert waiting.error.retry_after_s is not None
    assert running.done.wait(30) and running.error is None  # a started batch finishes
    with pytest.raises(ServeError) as caught:
        group.submit(Request("m", tokens(1), slo_s=30.0))
    assert caught.value.status == 503


@pytest.mark.parametrize(
    ("model", "body", "status", "kind", "field"),
    [
        ("nope", {"num_sequences": 1}, 404, "unknown-model", None),
        ("m", {"input_ids": [[1, 2, 3]]}, 400, "bad-input", "input_ids"),
        ("m", {"input_ids": [[1] * 8, [2] * 7]}, 400, "bad-input", "input_ids"),
        ("m", {"input_ids": [[64] * 8]}, 400, "bad-input", "input_ids"),
        ("m", {"input_ids": [[2**32 + 5] * 8]}, 400, "bad-input", "input_ids"),  # not id 5
        ("m", {"input_ids": [["a"] * 8]}, 400, "bad-input", "input_ids"),
        ("m", {"seed": 1}, 400, "bad-input", "input_ids"),
        ("m", [1, 2], 400, "bad-input", "body"),
        ("m", {"num_sequences": 5}, 413, "batch-too-large", "num_sequences"),
        ("m", {"num_sequences": 10**12}, 413, "batch-too-large", "num_sequences"),
        ("m", {"num_sequences": 0}, 400, "bad-input", "num_sequences"),
        ("m", {"num_sequences": 1, "seed": -1}, 400, "bad-input", "seed"),
    ],
)
def test_bad_requests_get_a_4xx_problem_and_leave_the_agent_serving(
    host: Host, model: str, body: object, status: int, kind: str, field: str | None
) -> None:
    client = create_app(host, dict).test_client()
    answer = client.post(f"/v1/infer/{model}", json=body)
    problem = assert_problem(
        answer.status_code, answer.content_type, answer.data, status, kind, field
    )
    assert problem["instance"] == f"/v1/infer/{model}"
    assert client.post("/v1/infer/m", json={"num_sequences": 2, "seed": 3}).status_code == 200


@pytest.mark.parametrize(
    "raw", [b"", b"{", b'{"num_sequences": 1', b"\xff\xfe{", b"[" * 100_000 + b"]" * 100_000]
)
def test_a_body_that_is_not_json_is_bad_input(host: Host, raw: bytes) -> None:
    answer = create_app(host, dict).test_client().post("/v1/infer/m", data=raw)
    problem = assert_problem(
        answer.status_code, answer.content_type, answer.data, 400, "bad-input", "body"
    )
    assert problem["detail"].startswith("body: invalid JSON")


def test_unknown_paths_methods_and_failures_are_problems(host: Host) -> None:
    def broken_status() -> dict[str, object]:
        raise RuntimeError("status unavailable")

    client = create_app(host, broken_status).test_client()
    missing = client.get("/v1/nothing")
    assert_problem(missing.status_code, missing.content_type, missing.data, 404, "not-found")
    wrong = client.get("/v1/infer/m")
    assert_problem(wrong.status_code, wrong.content_type, wrong.data, 405, "method-not-allowed")
    assert set(wrong.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
    failed = client.get("/v1/status")
    body = assert_problem(failed.status_code, failed.content_type, failed.data, 500, "internal")
    assert body["detail"] == "internal error"  # nothing of the failure leaks


def test_infer_answers_output_and_timings(host: Host) -> None:
    client = create_app(host, dict).test_client()
    answer = client.post("/v1/infer/m", json={"input_ids": tokens(2).tolist()})
    assert answer.status_code == 200
    body = answer.json
    assert body is not None and body["model"] == "m"
    expected = np.asarray(reference_forward(ARCH, SEED, tokens(2)))
    np.testing.assert_allclose(body["output"]["first_token"], expected[:, 0, :4], atol=1e-5)
    timings = body["timings"]
    assert timings["total_s"] == pytest.approx(timings["queue_s"] + timings["compute_s"])
    assert timings["slo_met"] is True and timings["batch_rows"] == 2
    assert host.latencies.summary()["m"]["count"] == 1


def test_loading_model_answers_503_with_retry_after(host: Host) -> None:
    host.loading.add("later")
    answer = create_app(host, dict).test_client().post("/v1/infer/later", json={"num_sequences": 1})
    assert_problem(answer.status_code, answer.content_type, answer.data, 503, "unavailable")
    assert answer.headers["Retry-After"] == "2"
