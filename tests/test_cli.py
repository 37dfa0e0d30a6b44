import json

import pytest

from fastgd.cli import build_parser, main


def test_bench_runs_end_to_end_and_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    main(["bench", "--sizes", "1500x4", "--repeats", "1", "--json", str(path)])
    out = capsys.readouterr().out
    assert "BLAS:" in out and "numba threads" in out
    assert "one streaming read of X" in out
    for method in ("batch", "sgd", "minibatch"):
        assert f"  {method} (" in out
    assert "fits to convergence" in out
    report = json.loads(path.read_text())
    size = report["sizes"][0]
    assert (size["m"], size["n"]) == (1500, 4)
    impls = {(row["method"], row["impl"]) for row in size["methods"]}
    assert ("sgd", "sklearn") in impls and ("batch", "loop") in impls
    assert all(row["median_s"] > 0 for row in size["methods"])
    assert {fit["method"] for fit in size["fits"]} >= {"batch", "sgd", "minibatch"}


def test_bench_loop_is_extrapolated_when_rows_exceed_the_subset(capsys):
    main(["bench", "--sizes", "2500x3", "--repeats", "1", "--methods", "sgd",
          "--impls", "compiled,loop", "--no-fit", "--quiet", "--threads", "1",
          "--dtype", "float32"])  # fmt: skip
    out = capsys.readouterr().out
    assert "timed on 2,000 rows, scaled up" in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["bench", "--sizes", "10by3"], "sizes must look like"),
        (["bench", "--methods", "newton"], "unknown name"),
        (["bench", "--impls", "cuda"], "unknown name"),
    ],
)
def test_bad_arguments_are_explained(argv, words, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    assert words in capsys.readouterr().err


def test_threads_out_of_range_is_explained():
    with pytest.raises(SystemExit, match="--threads"):
        main(["bench", "--sizes", "100x2", "--threads", "999"])
