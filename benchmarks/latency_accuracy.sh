#!/usr/bin/env bash
# Latency-prediction accuracy on this machine, as reported in the README ("Latency"):
#   1. `costmodel calibrate` with its defaults (fresh profile; target <= 3 min on 2 cores),
#   2. `costmodel latency-eval` on held-out configs of every design (a seed never used in training),
#   3. `costmodel latency-eval --networks` on every built-in network and swap at two resolutions
#      (the profile's network composition was fitted on OTHER networks: widths and 1x1 swaps at 96 px),
# then prints the three figures (layers within ±10%, networks within ±10%, Spearman) with the
# measurement reproducibility beside each. About 10 minutes (calibrate 3, layers 1.5-2, networks 5).
# Outputs (text and CSV) go to reports/latency/ (git-ignored). Run it on a quiet machine: timings taken
# while other jobs run are not representative (the load average is logged in conditions.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
out=reports/latency
mkdir -p "$out"
seed="${SEED:-31337}"   # held-out configs: a seed never used while developing the model
cm="${COSTMODEL:-costmodel}"
if ! command -v "$cm" >/dev/null 2>&1 && [ -x .venv/bin/costmodel ]; then cm=.venv/bin/costmodel; fi
profile="$out/profile.json"

{ date -u +"start %Y-%m-%dT%H:%M:%SZ"; uptime; grep -m1 "model name" /proc/cpuinfo || true; } | tee "$out/conditions.txt"

SECONDS=0
"$cm" calibrate --profile "$profile" --sweep-csv "$out/sweep.csv" | tee "$out/calibrate.txt"
echo "calibrate took ${SECONDS} s" | tee -a "$out/conditions.txt"

SECONDS=0
"$cm" latency-eval --profile "$profile" --seed "$seed" --per-design 4 --csv "$out/eval-layers.csv" \
    | tee "$out/eval-layers.txt"
echo "layer eval took ${SECONDS} s" | tee -a "$out/conditions.txt"

SECONDS=0
"$cm" latency-eval --networks --profile "$profile" --csv "$out/eval-networks.csv" | tee "$out/eval-networks.txt"
echo "network eval took ${SECONDS} s" | tee -a "$out/conditions.txt"

{ date -u +"end %Y-%m-%dT%H:%M:%SZ"; uptime; } | tee -a "$out/conditions.txt"

echo
echo "=== summary (predicted vs measured; reproducibility = two independent estimates of each item) ==="
grep -m1 "^layers within ±10%" "$out/eval-layers.txt" || true
grep -m1 "refined x anchor drift" "$out/eval-layers.txt" | sed 's/^/layers, /' || true
grep -m1 "measurement reproducibility" "$out/eval-layers.txt" | sed 's/^/layers: /' || true
grep -m1 "^networks within ±10% (predicted" "$out/eval-networks.txt" || true
grep -m1 "^networks within ±10%, predicted x anchor drift" "$out/eval-networks.txt" || true
grep -m1 "^networks within ±10%, leave-one-family-out" "$out/eval-networks.txt" || true
grep -m1 "measurement reproducibility" "$out/eval-networks.txt" | sed 's/^/networks: /' || true
