"""Streaming sweeps to CSV / Parquet (issue 19, part 3): written chunk by chunk, never more than
one chunk in memory, read back equal to ``sweep``; output paths checked before any work."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from costmodel import explore
from costmodel.cli import main
from costmodel.explore import check_writable, sweep, write_sweep

# conv rows with c_in = c_out = 2**31 at 2**20 x 2**20 overflow int64 (MACs = 9 * 2**102): the
# exact Python-int path; groups = 3 rows are invalid; the rest int64.
GRID = {"c_in": [2**31, 64, 48], "c_out": [2**31, 64], "groups": [1, 3, 4], "h": [2**20, 7]}
CHUNK = 5


@pytest.fixture
def small_chunks(monkeypatch):
    """5-row chunks, and a record of the rows of every frame handed to a writer."""
    monkeypatch.setattr(explore.sweeps, "CHUNK", CHUNK)
    written: list[int] = []
    to_csv = pd.DataFrame.to_csv

    def recording_to_csv(self, *args, **kwargs):
        written.append(len(self))
        return to_csv(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", recording_to_csv)
    import pyarrow.parquet as pq

    write_table = pq.ParquetWriter.write_table

    def recording_write_table(self, table, *args, **kwargs):
        written.append(table.num_rows)
        return write_table(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", recording_write_table)
    return written


def test_csv_is_written_chunk_by_chunk(tmp_path, small_chunks):
    path = tmp_path / "s.csv"
    summary = write_sweep(path, "group_conv", **GRID)
    # 3 x 2 x 3 x 2 = 36 rows in 5-row chunks: 7 chunks of 5 and one of 1
    assert small_chunks == [5] * 7 + [1]
    whole = sweep("group_conv", **GRID)
    assert summary["rows"] == 36 and summary["valid"] == int(whole["valid"].sum())
    assert summary["invalid"] == whole.attrs["invalid"] and summary["exact_rows"] == whole.attrs["exact_rows"] > 0
    back = pd.read_csv(path, dtype={"macs": str, "flops": str, "mem_bytes": str, "params": str})
    assert len(back) == 36
    for got, want in zip(back["macs"], whole["macs"]):  # exact digits, also beyond int64
        assert (pd.isna(got) and pd.isna(want)) or int(got) == want
    # row 0: c_in = c_out = 2**31, groups 1, 3x3 at 2**20 x 56: MACs = 2**62 * 9 * 2**20 * 56
    assert int(back["macs"][0]) == 2**62 * 9 * 2**20 * 56


def test_parquet_is_written_chunk_by_chunk_and_exact(tmp_path, small_chunks):
    import pyarrow.parquet as pq

    path = tmp_path / "s.parquet"
    summary = write_sweep(path, "group_conv", sample=23, seed=4, **GRID)
    assert small_chunks == [5, 5, 5, 5, 3] and summary["rows"] == 23
    table = pq.read_table(path)
    whole = sweep("group_conv", sample=23, seed=4, **GRID)
    assert table.num_rows == 23
    back = table.to_pydict()
    for name in ("params", "macs", "flops", "mem_bytes", "macs_conv"):
        want = [None if pd.isna(v) else int(v) for v in whole[name]]
        assert [None if v is None else int(v) for v in back[name]] == want, name
    assert back["reason"] == list(whole["reason"]) and back["valid"] == list(whole["valid"])
    assert back["c_in"] == list(whole["c_in"])


def test_empty_sweep_still_writes_the_header(tmp_path):
    path = tmp_path / "e.csv"
    # groups = 3 divides no c_in of 64: every row is invalid and valid_only keeps none
    assert write_sweep(path, "group_conv", c_in=[64], groups=[3], valid_only=True)["rows"] == 0
    assert pd.read_csv(path).columns[:2].tolist() == ["c_in", "c_out"]


def test_bad_output_paths_are_refused_before_the_work(tmp_path, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the sweep started before the path was checked")

    monkeypatch.setattr(explore.sweeps, "_setup", no_work)
    with pytest.raises(ValueError, match="it is a directory"):
        write_sweep(tmp_path, "conv")
    with pytest.raises(ValueError, match="does not exist"):
        write_sweep(tmp_path / "no" / "such" / "x.csv", "conv")
    check_writable(tmp_path / "fine.parquet")  # a free name in an existing folder


@pytest.mark.parametrize("out, message", [(".", "it is a directory"), ("afile/x.csv", "is not a directory")])
def test_cli_bad_out_is_one_line_exit_2(tmp_path, capsys, monkeypatch, out, message):
    # the CLI creates missing parent folders (cli.main); a parent that is a file cannot be created
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    monkeypatch.setattr(explore.sweeps, "_setup", lambda *a, **k: (_ for _ in ()).throw(AssertionError("work began")))
    code = main(["sweep", "conv", "--quiet", "--sample", "10", "--out", out])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_streams_to_parquet_with_a_pareto_front(tmp_path, capsys, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setattr(explore.sweeps, "CHUNK", 4)
    out = tmp_path / "s.parquet"
    code = main(["sweep", "group_conv", "--quiet", "--out", str(out), "--c-out", "16:64:16", "--groups", "1,2,3",
                 "--pareto", "macs,params"])
    assert code == 0
    text = capsys.readouterr().out
    # 4 x 3 = 12 points; groups = 3 never divides c_in = 64: 4 invalid
    assert "12 points of group_conv, 8 valid" in text and "wrote" not in text  # stdout: results only
    # more groups and fewer channels: c_out = 16, groups = 2 dominates every other point
    assert "Pareto front on macs, params (1 points" in text
    assert pq.read_table(out).num_rows == 12


def test_cli_sample_larger_than_the_grid_notes_it(capsys):
    code = main(["sweep", "group_conv", "--quiet", "--sample", "50", "--groups", "1,2,4", "--c-out", "16,32"])
    captured = capsys.readouterr()
    assert code == 0 and "6 points of group_conv, 6 valid" in captured.out  # 3 x 2, each once
    assert captured.err.strip() == ("costmodel: note: sample = 50 is more than the 6 points of the grid: "
                                    "each point drawn once (6 rows)")


def test_cli_wrote_line_is_a_status_on_stderr(tmp_path, capsys, monkeypatch):
    """"wrote PATH" goes through core.progress.status: stderr, and only for a terminal."""
    out = tmp_path / "s.csv"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # capsys's stderr stands in for a terminal
    assert main(["sweep", "group_conv", "--out", str(out), "--groups", "1,2"]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.err and "wrote" not in captured.out
    assert main(["sweep", "group_conv", "--quiet", "--out", str(out), "--groups", "1,2"]) == 0
    assert "wrote" not in capsys.readouterr().err  # --quiet: no status line either


@pytest.mark.parametrize("sample", ["0", "-5"])
def test_cli_sample_below_one_is_one_line_exit_2(capsys, sample):
    code = main(["sweep", "conv", "--quiet", "--sample", sample])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"argument --sample: '{sample}' is invalid: allowed is an integer >= 1" in err  # as every command's


def test_cli_huge_sample_without_out_is_refused_with_advice(capsys):
    code = main(["sweep", "conv", "--quiet", "--sample", "100000000000", "--c-in", "1:1000000000"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "memory_budget" in err and "--out" in err and len(err.splitlines()) == 1


def test_out_file_left_unchanged_when_nothing_is_written(tmp_path):
    """A refused sweep (a bad field) must not truncate an existing output file."""
    path = tmp_path / "keep.csv"
    path.write_text("old\n")
    with pytest.raises(ValueError, match="not a field"):
        write_sweep(path, "conv", nonsense=[1])
    assert path.read_text() == "old\n"
