"""Profile fingerprint: a profile calibrated on another machine warns in one line; this
machine's own fingerprint does not; a corrupt fingerprint-bearing profile names `costmodel calibrate`."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

from costmodel.latency.profile import Profile, ProfileError, load_profile, machine_fingerprint


def _profile(**kw) -> Profile:
    peaks = {"dense_macs_per_s": 1e9, "depthwise_macs_per_s": 1e8, "bandwidth_bytes_per_s": 1e9,
             "call_overhead_s": 1e-6}
    return Profile(device="cpu", device_name="test cpu", threads=1, torch_version="x", peaks=peaks, **kw)


def test_fingerprint_fields():
    fp = machine_fingerprint("cpu", 1, "thread")
    assert (fp["threads"], fp["clock"]) == (1, "thread")
    assert fp["cpu_model"] and len(fp["cpu_flags_sha"]) == 16 and fp["cpus"] >= 1


def test_same_machine_does_not_warn(tmp_path):
    path = _profile(fingerprint=machine_fingerprint("cpu", 1, "wall")).save(tmp_path / "p.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_profile(path).fingerprint["clock"] == "wall"


def test_other_machine_warns_in_one_line(tmp_path):
    other = {**machine_fingerprint("cpu", 1, "wall"), "cpu_model": "Some Other CPU 9000"}
    path = _profile(fingerprint=other).save(tmp_path / "p.json")
    with pytest.warns(UserWarning, match=r"calibrated on another machine \(cpu_model: 'Some Other CPU 9000'") as seen:
        load_profile(path)
    message = str(seen[0].message)
    assert "\n" not in message and "run `costmodel calibrate`" in message


def test_fingerprint_round_trips_and_corrupt_profile_names_calibrate(tmp_path):
    prof = _profile(fingerprint=machine_fingerprint("cpu", 1, "wall"))
    assert load_profile(prof.save(tmp_path / "ok.json")) == prof
    bad = tmp_path / "bad.json"
    bad.write_text(prof.to_json()[:-40])  # truncated file
    with pytest.raises(ProfileError, match=r"corrupt \(not JSON.*run `costmodel calibrate`") as err:
        load_profile(bad)
    assert "\n" not in str(err.value)
    # a curve record of an unknown type is corrupt too
    broken = dataclasses.replace(prof).to_json().replace('"curves": {}', '"curves": {"relu": {"model": "magic"}}')
    bad.write_text(broken)
    with pytest.raises(ProfileError, match="run `costmodel calibrate`"):
        load_profile(bad)


def test_fingerprint_records_vector_lanes_and_batch():
    from costmodel.latency.features import cpu_flags, vector_lanes

    fp = machine_fingerprint("cpu", 1, "wall", batch=8)
    assert fp["batch"] == 8
    assert fp["vector_lanes"] == vector_lanes(cpu_flags()) and fp["vector_lanes"] in (4, 8, 16)


def test_threads_and_batch_are_profile_keys_of_their_own(tmp_path, monkeypatch):
    from costmodel.latency.profile import profile_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    one, eight, all_cores = profile_path("cpu", 1), profile_path("cpu", 1, 8), profile_path("cpu", 2)
    assert one.name.endswith("-t1.json") and eight.name.endswith("-t1-b8.json") and all_cores.name.endswith("-t2.json")
    # no batch-8 profile yet: the batch-1 one is used, with a one-line warning naming the fix
    _profile(fingerprint=machine_fingerprint("cpu", 1, "wall")).save(one)
    with pytest.warns(UserWarning, match=r"costmodel calibrate --batch 8") as seen:
        assert load_profile(device="cpu", batch=8).batch == 1
    assert "\n" not in str(seen[0].message)
    # once calibrated at batch 8, that profile is the one loaded
    _profile(batch=8, fingerprint=machine_fingerprint("cpu", 1, "wall", batch=8)).save(eight)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_profile(device="cpu", batch=8).batch == 8
    # a mismatched batch in the fingerprint warns like any other mismatch
    _profile(fingerprint={**machine_fingerprint("cpu", 1, "wall"), "batch": 8}).save(tmp_path / "odd.json")
    with pytest.warns(UserWarning, match=r"batch: 8 != 1"):
        load_profile(tmp_path / "odd.json")


def test_profile_of_another_timing_protocol_warns_in_one_line(tmp_path):
    from costmodel.latency.profile import measurement_protocol

    # this code measures the 5th percentile of raw samples (protocol.QUANTILE, NORMALIZE)
    assert measurement_protocol() == "q0.05-raw"
    here = machine_fingerprint("cpu", 1, "wall")
    assert here["protocol"] == "q0.05-raw"
    # a profile calibrated before stop 39 names no protocol: it was the 10th percentile of
    # pass-normalized samples, and loading it warns, naming both and the fix
    legacy = {k: v for k, v in here.items() if k != "protocol"}
    path = _profile(fingerprint=legacy).save(tmp_path / "old.json")
    with pytest.warns(UserWarning, match=r"another timing protocol \(protocol: 'q0.1-normalized' != 'q0.05-raw'\)") as seen:
        load_profile(path)
    message = str(seen[0].message)
    assert "\n" not in message and "run `costmodel calibrate` again" in message
    # a profile built by hand (no fingerprint) says nothing of its protocol: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_profile(_profile().save(tmp_path / "hand.json"))
