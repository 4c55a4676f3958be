#!/usr/bin/env bash
# Latency-prediction accuracy on this machine, as reported in the README ("Latency").
# Two runs: the defaults (wall clock, ~40 s calibration), and the thread CPU-time clock with a
# bigger training sweep (--budget 200, ~2.5 min), which is robust on a shared machine.
# Outputs (text and CSV) go to reports/latency/ (git-ignored). About 8 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=reports/latency
mkdir -p "$out"
seed="${SEED:-31337}"   # held-out configs: a seed never used while developing the model
cm="${COSTMODEL:-costmodel}"

date -u +"start %Y-%m-%dT%H:%M:%SZ" | tee "$out/conditions.txt"
uptime | tee -a "$out/conditions.txt"

"$cm" calibrate --clock thread --budget 200 --profile "$out/profile-thread.json" \
    --sweep-csv "$out/sweep-thread.csv" | tee "$out/calibrate-thread.txt"
"$cm" latency-eval --profile "$out/profile-thread.json" --seed "$seed" \
    --csv "$out/eval-thread.csv" | tee "$out/eval-thread.txt"
"$cm" latency-gaps --profile "$out/profile-thread.json" --csv "$out/gaps-thread.csv" | tee "$out/gaps-thread.txt"

"$cm" calibrate --profile "$out/profile-wall.json" | tee "$out/calibrate-wall.txt"
"$cm" latency-eval --profile "$out/profile-wall.json" --seed "$seed" \
    --csv "$out/eval-wall.csv" | tee "$out/eval-wall.txt"

date -u +"end %Y-%m-%dT%H:%M:%SZ" | tee -a "$out/conditions.txt"
uptime | tee -a "$out/conditions.txt"
