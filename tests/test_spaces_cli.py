"""`costmodel explore` / `costmodel lut` and LUT-based evaluation of a space."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from costmodel.cli import main
from costmodel.spaces import load_space
from costmodel.spaces.front import pareto_front
from tests.test_spaces import ONE_BLOCK, TINY


def test_explore_writes_the_exact_front(tmp_path, capsys):
    out = tmp_path / "front.csv"
    assert main(["explore", str(TINY), "--objectives", "params,bytes", "--out", str(out), "--quiet"]) == 0
    written = pd.read_csv(out)
    want = pareto_front(load_space(TINY), ("params", "bytes"), profile=None)
    assert written[["params", "mem bytes"]].values.tolist() == want[["params", "mem bytes"]].values.tolist()
    captured = capsys.readouterr()
    # --quiet: no progress or status on stderr; the front is still printed, as every command's table
    assert captured.err == "" and "params" in captured.out


def test_explore_budget_keeps_rows_within_it(tmp_path):
    out = tmp_path / "s.csv"
    assert main(["explore", str(TINY), "--sample", "200", "--budget", "params=20000", "--out", str(out),
                 "--quiet"]) == 0
    frame = pd.read_csv(out)
    assert len(frame) > 0 and (frame["params"] <= 20000).all()


@pytest.mark.parametrize("argv, message", [
    (["explore", "nope"], "space = 'nope' is unknown"),
    (["explore", "resnet50", "--budget", "params"], "--budget = 'params' is invalid"),
    (["explore", "resnet50", "--objectives", "macs"], "objectives = 'macs' is invalid"),
    (["lut", "resnet50", "--out", "x.txt"], "--out = 'x.txt' is invalid"),
])
def test_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_lut_latency_is_the_sum_of_its_block_rows(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text(ONE_BLOCK)
    sp = load_space(path)
    keys = list(sp.tables(profile=None).makers)
    # stem, two heads (8 or 16 channels in), two blocks (8 -> 8, 8 -> 16): 5 distinct pieces
    assert len(keys) == 5
    lut = {k: float(2 ** i) for i, k in enumerate(keys)}  # powers of two: any sum is exact
    frame = sp.evaluate([[1, 0, 0]], lut=lut)  # width 16
    block = [k for k in keys if "8x8x8 -> 16" in k][0]
    head = [k for k in keys if k.startswith("head | 16x")][0]
    assert frame["LUT latency (s)"].iloc[0] == lut["stem"] + lut[block] + lut[head]


def test_lut_command_measures_every_block(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text(ONE_BLOCK)
    out = tmp_path / "lut.json"
    assert main(["lut", str(path), "--out", str(out), "--min-run-time", "0.005", "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert sorted(data["seconds"]) == sorted(load_space(path).tables(profile=None).makers)
    assert all(v > 0 for v in data["seconds"].values())
    frame = load_space(path).evaluate([[0, 0, 0]], lut=str(out))
    assert frame["LUT latency (s)"].iloc[0] > 0


def test_explore_measure_puts_measured_beside_the_front(tmp_path):
    out = tmp_path / "front.csv"
    assert main(["explore", str(TINY), "--objectives", "params,bytes", "--measure", "2", "--out", str(out),
                 "--quiet"]) == 0
    frame = pd.read_csv(out)
    want = pareto_front(load_space(TINY), ("params", "bytes"), profile=None)
    # the tiny space's (params, bytes) front has 2 points; --measure 2 picks both ends of it,
    # each built and timed (positive seconds) beside its exact costs
    assert len(want) == 2 and frame["params"].tolist() == want["params"].tolist()
    assert (frame["measured latency (s)"] > 0).all()


def test_explore_sample_streams_to_parquet(tmp_path):
    out = tmp_path / "s.parquet"
    assert main(["explore", str(TINY), "--sample", "3000", "--chunk", "1000", "--out", str(out), "--quiet"]) == 0
    got = pd.read_parquet(out)
    want = load_space(TINY).sample(3000, 0, profile="auto")
    assert got["params"].tolist() == want["params"].tolist() and len(got) == 3000


def test_explore_measured_objective_says_so_and_falls_back_to_sampling(tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert main(["explore", str(TINY), "--objectives", "measured,params", "--sample", "40", "--measure", "3",
                 "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "'measured'" in err and "not additive" in err and "falling back to sampling: 40 candidates, 3" in err
    frame = pd.read_csv(out)
    # 3 of the 40 sampled candidates measured (spread along params, sorted), each timed, and the
    # sampled front among them marked (at least its lowest-params row is on it)
    assert len(frame) == 3 and (frame["measured latency (s)"] > 0).all()
    assert frame["params"].is_monotonic_increasing and bool(frame["sampled front"].iloc[0])


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_lut_file_formats_round_trip(tmp_path, suffix):
    from costmodel.spaces.lut import LUT, load_lut

    # made-up seconds (not measured): 2^-10 and 3 x 2^-12 are exact in every format
    lut = LUT({"stem": 2.0 ** -10, "head | 16x8x8 -> None /1": 3 * 2.0 ** -12},
              {"device": "cpu", "threads": 1, "torch": "x"})
    back = load_lut(lut.save(tmp_path / f"lut{suffix}"))
    assert back.seconds_by_key == lut.seconds_by_key and back.meta["device"] == "cpu"


def test_explore_measure_puts_predicted_beside_measured(tmp_path, monkeypatch):
    """Objectives without latency: each measured front point also gets its network's predicted
    latency (this machine's profile; here a made-up one, so the test needs no calibration)."""
    from costmodel.latency import network as latency_network
    from costmodel.latency.network import predict_latency
    from costmodel.latency.profile import Profile

    peaks = {"dense_macs_per_s": 1e9, "depthwise_macs_per_s": 1e8, "bandwidth_bytes_per_s": 1e9,
             "call_overhead_s": 1e-6, "l2_bytes": 2.0 ** 21}
    profile = Profile(device="cpu", device_name="test cpu", threads=1, torch_version="x", peaks=peaks)
    monkeypatch.setattr(latency_network, "load_profile", lambda *a, **k: profile)
    out = tmp_path / "front.csv"
    assert main(["explore", str(TINY), "--objectives", "params,bytes", "--measure", "2", "--out", str(out),
                 "--quiet"]) == 0
    frame = pd.read_csv(out)
    sp = load_space(TINY)
    for _, row in frame.iterrows():
        want = predict_latency(sp.build(row), profile=profile).seconds
        assert row["predicted latency (s)"] == pytest.approx(want, rel=1e-9) and row["measured latency (s)"] > 0
