"""``meshplan workload generate|inspect`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from api.cli import main
from planner.files import load_workload
from planner.workloads import azure2019, workload_stats

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["workload", *args])
    return result.exit_code, result.output


def _generate(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / name
    code, output = _run("generate", *args, "-o", str(out))
    assert code == 0, output
    assert output.startswith(f"wrote {out}: ")
    return out


def test_poisson_per_model_rate_and_default_names(tmp_path: Path) -> None:
    out = _generate(
        tmp_path,
        "p.json",
        "--kind",
        "poisson",
        "--models",
        "3",
        "--rate",
        "20",
        "--duration",
        "300",
    )
    workload = load_workload(out)
    assert workload.model_names == ("m0", "m1", "m2")
    assert workload.duration_s == 300.0
    for rate in workload_stats(workload).rate_rps:
        assert rate == pytest.approx(20.0, rel=0.1)


def test_gamma_is_reproducible_per_seed_and_takes_names(tmp_path: Path) -> None:
    args = (
        "--kind",
        "gamma",
        "--model-names",
        "bert,moe",
        "--cv",
        "3",
        "--duration",
        "100",
        "--seed",
        "5",
    )
    first = load_workload(_generate(tmp_path, "a.npz", *args))
    second = load_workload(_generate(tmp_path, "b.npz", *args))
    other = load_workload(_generate(tmp_path, "c.npz", *args[:-1], "6"))
    assert first.model_names == ("bert", "moe")
    np.testing.assert_array_equal(first.arrivals_s, second.arrivals_s)
    assert not np.array_equal(first.arrivals_s, other.arrivals_s)
    assert first.meta["processes"]["bert"] == {"rate_rps": 10.0, "cv": 3.0}


def test_synthetic_uses_the_total_rate(tmp_path: Path) -> None:
    out = _generate(
        tmp_path,
        "s.json",
        "--kind",
        "azure-synthetic",
        "--models",
        "6",
        "--rate",
        "30",
        "--duration",
        "600",
    )
    workload = load_workload(out)
    assert workload.meta["config"]["total_rate_rps"] == 30.0
    assert workload.meta["config"]["num_models"] == 6
    assert len(workload.model_names) == 6


def test_azure2019_replays_the_sample(tmp_path: Path) -> None:
    out = _generate(
        tmp_path,
        "a19.json",
        "--kind", "azure2019",
        "--trace", str(EXAMPLES / "azure2019_sample.csv"),
        "--models", "4",
        "--start", "0.1.0",
        "--end", "0.2.0",
        "--window", "120",
        "--rate-scale", "2",
    )  # fmt: skip
    workload = load_workload(out)
    assert workload.duration_s == 3600.0
    assert workload.meta["start_s"] == 3600.0 and workload.meta["window_s"] == 120.0
    assert workload.meta["rate_scale"] == 2.0


def test_azure2021_replays_the_sample(tmp_path: Path) -> None:
    out = _generate(
        tmp_path,
        "a21.npz",
        "--kind", "azure2021",
        "--trace", str(EXAMPLES / "azure2021_sample.csv"),
        "--model-names", "a,b,c",
        "--end", "0.3.0",
        "--cv-scale", "0.5",
    )  # fmt: skip
    workload = load_workload(out)
    assert workload.duration_s == 10800.0
    assert workload.meta["num_functions"] == 12
    assert workload.meta["redraw"]["window_s"] == 5400.0
    assert workload.meta["redraw"]["cv_scale"] == 0.5


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--kind", "poisson", "--trace", "x.csv"], 2, "--trace does not apply to --kind poisson"),
        (["--kind", "poisson", "--cv", "2"], 2, "--cv does not apply to --kind poisson"),
        (
            ["--kind", "gamma", "--rate-scale", "2"],
            2,
            "--rate-scale does not apply to --kind gamma",
        ),
        (["--kind", "azure2019"], 2, "--kind azure2019 needs --trace FILE"),
        (["--kind", "azure2021", "--trace", "a", "--trace", "b"], 2, "reads one --trace file"),
        (["--kind", "gamma", "--models", "2", "--model-names", "a"], 2, "not both"),
        (["--kind", "gamma", "--model-names", "a,a"], 2, "expected distinct non-empty names"),
        (["--kind", "gamma", "--rate", "-1"], 2, "Invalid value for '--rate'"),
        (
            [
                "--kind",
                "azure2019",
                "--trace",
                str(EXAMPLES / "azure2019_sample.csv"),
                "--start",
                "0.1",
            ],
            1,
            "start: expected 'day.hour.minute'",
        ),
    ],
)
def test_bad_generate_arguments(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    exit_code, output = _run("generate", *args, "-o", str(tmp_path / "w.json"))
    assert exit_code == code
    assert message in output
    assert not (tmp_path / "w.json").exists()


def test_malformed_trace_reports_line_and_column(tmp_path: Path) -> None:
    trace = tmp_path / "bad.txt"
    trace.write_text("app,func,end_timestamp,duration\na,f,1.0,0.5\na,f,x,0.5\n")
    code, output = _run(
        "generate", "--kind", "azure2021", "--trace", str(trace), "-o", str(tmp_path / "w.json")
    )
    assert code == 1
    assert f"{trace}, line 3, column 'end_timestamp': must be a finite number >= 0" in output


@pytest.mark.parametrize(
    ("kind", "lines", "where"),
    [
        (
            "azure2021",
            [b"app,func,end_timestamp,duration\n", b"a,f,1.0,0.5\n", b"a,f\xff\xfe,2.0,0.5\n"],
            "line 3, column 'func': is not UTF-8 text (byte 0xff at byte 4 of the line)",
        ),
        (
            "azure2019",
            [",".join(azure2019.HEADER).encode() + b"\n", b"o,\xe9t\xe9,f,http,1\n"],
            "line 2, column 'HashApp': is not UTF-8 text (byte 0xe9 at byte 3 of the line)",
        ),
        (
            "azure2021",
            [b"app,f\xfcnc,end_timestamp,duration\n"],
            "line 1: is not UTF-8 text (byte 0xfc at byte 6 of the line, field 2)",
        ),
    ],
    ids=["2021-row", "2019-row", "header"],
)
def test_undecodable_trace_bytes_name_file_line_and_column(
    tmp_path: Path, kind: str, lines: list[bytes], where: str
) -> None:
    trace = tmp_path / "latin1.csv"
    trace.write_bytes(b"".join(lines))
    code, output = _run(
        "generate",
        "--kind",
        kind,
        "--end",
        "0.0.1",
        "--trace",
        str(trace),
        "-o",
        str(tmp_path / "w.json"),
    )
    assert code == 1
    assert f"Error: {trace}, {where}" in " ".join(output.split())
    assert not (tmp_path / "w.json").exists()


def test_unknown_output_suffix_is_an_error(tmp_path: Path) -> None:
    code, output = _run("generate", "--kind", "poisson", "-o", str(tmp_path / "w.csv"))
    assert code == 1
    assert "unknown workload format '.csv'" in output


def test_inspect_json_reports_models_and_windows(tmp_path: Path) -> None:
    out = _generate(
        tmp_path, "w.json", "--kind", "gamma", "--models", "2", "--duration", "100", "--cv", "2"
    )
    workload = load_workload(out)
    code, output = _run("inspect", str(out), "--window", "30", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert [m["requests"] for m in report["models"]] == np.bincount(workload.model_ids).tolist()
    assert [w["start_s"] for w in report["windows"]] == [0.0, 30.0, 60.0, 90.0]
    assert report["windows"][-1]["duration_s"] == 10.0
    assert sum(w["requests"] for w in report["windows"]) == workload.num_requests


def test_inspect_json_writes_null_for_an_undefined_cv(tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(
        json.dumps(
            {"model_names": ["a", "b"], "duration_s": 4, "arrivals_s": [1, 2], "model_ids": [0, 1]}
        )
    )
    code, output = _run("inspect", str(path), "--json")
    assert code == 0, output
    models = json.loads(output)["models"]
    assert models == [
        {"model": "a", "requests": 1, "rate_rps": 0.25, "cv": None},
        {"model": "b", "requests": 1, "rate_rps": 0.25, "cv": None},
    ]


def test_inspect_table_and_errors(tmp_path: Path) -> None:
    out = _generate(
        tmp_path, "w.npz", "--kind", "poisson", "--model-names", "alpha,beta", "--duration", "120"
    )
    code, output = _run("inspect", str(out))
    assert code == 0, output
    assert "alpha" in output and "beta" in output and "per 60 s window" in output
    code, output = _run("inspect", str(tmp_path / "missing.json"))
    assert code == 1 and "missing.json: cannot read" in output
