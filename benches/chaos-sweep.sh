#!/usr/bin/env bash
# Chaos acceptance sweep on a large workload: every shipped plan under chaos/
# on workloads/black-friday.toml (or $WORKLOAD) over $SEEDS seeds (default
# 20). With the correct stack no run may exit 2 (an exactly-once or ledger
# invariant violated); the script prints one line per run and fails if any
# did. CI runs the same sweep on workloads/steady.toml (tests/chaos.rs); this
# one takes about half an hour on 2 cores, so it is a script.
#
#   benches/chaos-sweep.sh                   # black-friday, 20 seeds
#   SEEDS=3 benches/chaos-sweep.sh           # a quicker look
#   FIRST_SEED=6 benches/chaos-sweep.sh      # seeds 6..20 (resume a sweep)
#   WORKLOAD=workloads/flash-sale.toml benches/chaos-sweep.sh
#   PAYSTORM=/tmp/paystorm benches/chaos-sweep.sh   # a prebuilt binary
set -euo pipefail
cd "$(dirname "$0")/.."
workload="${WORKLOAD:-workloads/black-friday.toml}"
seeds="${SEEDS:-20}"
first="${FIRST_SEED:-1}"
bin="${PAYSTORM:-./target/release/paystorm}"
[ -n "${PAYSTORM:-}" ] || cargo build --release --quiet
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bad=0
for plan in chaos/*.toml; do
  for seed in $(seq "$first" "$seeds"); do
    set +e
    "$bin" run "$workload" --chaos "$plan" --seed "$seed" --out "$tmp/run" --quiet > "$tmp/log"
    code=$?
    set -e
    injected=$(python3 -c "import json;r=json.load(open('$tmp/run/results.json'));f=r['faults'];print(f['injected_total'], f.get('recovery_seconds'))" 2>/dev/null || echo "? ?")
    printf '%-36s seed %-3s exit %s  injected/recovery_s %s\n' "$plan" "$seed" "$code" "$injected"
    if [ "$code" -eq 2 ] || [ "$code" -ge 4 ]; then
      bad=1
      grep -A1 FAIL "$tmp/log" || true
    fi
  done
done
if [ "$bad" -ne 0 ]; then
  echo "FAIL: some run violated an invariant (exit 2) or could not run"
  exit 1
fi
echo "PASS: no plan broke an invariant on $workload over seeds $first..$seeds"
