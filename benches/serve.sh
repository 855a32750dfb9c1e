#!/usr/bin/env bash
# Served-stack benchmark (issue 7, "Speed" b): the highest rate of payments a
# `paystorm serve` stack sustains with the payments' corrected p99 under
# 50 ms, driven over HTTP by paystorm's own generator (`paystorm load`).
#
#   benches/serve.sh                  # sweep benches/serve.toml, 10 s a step
#   P99_MS=100 benches/serve.sh       # another latency objective
#   START=4 benches/serve.sh          # first step at rate scale 4 (400/s)
#
# The workload (benches/serve.toml) has every flow and client behaviour of
# workloads/live-ci.toml with each modelled hop fixed at 1 ms, so what the
# p99 measures is the cost of serving: HTTP at both ends, the gateway,
# idempotency, ledger and webhooks, and the generator itself. Its rate is
# 100 payments/s per unit of --rate-scale. The sweep doubles the scale from
# START until a step fails, then halves the gap between the last pass and
# the first failure BISECT times (default 3).
#
# Each step starts a fresh `serve` (a second load with the same seed would
# replay the first one's idempotency keys), runs `load` against it, stops it
# with SIGTERM, and reads the step's remote.json (what `load` writes; it has
# no results.json): `latency_ms.create.p99` is the payments' corrected
# latency, from each request's intended send time, queueing for one of the
# generator's connections included. A step passes when that p99 is under
# P99_MS, `load` exits 0 (its checks held and it kept its schedule: late or
# dropped arrivals within `load.dropped_share_max`), and no more than 0.1% of
# payments failed or stayed unknown. The figure is the offered rate of the
# highest passing step (arrivals / load seconds).
#
# Generator and server share this machine's cores (on the 2-core CI VM, all
# of them), so the figure is the stack's and its load generator's together.
set -euo pipefail
cd "$(dirname "$0")/.."
workload="${WORKLOAD:-benches/serve.toml}"
p99_ms="${P99_MS:-50}"
scale="${START:-1}"
bisect="${BISECT:-3}"
port="${PORT:-18282}"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/paystorm"
tmp="$(mktemp -d)"
server=""
cleanup() {
    [[ -n "$server" ]] && kill "$server" 2> /dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# Runs one step at rate scale $1; prints its line and returns 0 if it passed.
step() {
    local scale="$1" dir="$tmp/step-$1"
    mkdir -p "$dir"
    "$bin" serve "$workload" --listen "127.0.0.1:$port" --keys-out "$dir/api_keys.json" \
        --grace-s 2 --drain-max-s 2 > "$dir/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
        sleep 0.1
    done
    local code=0
    "$bin" load "$workload" --target "http://127.0.0.1:$port" --rate-scale "$scale" \
        --out "$dir" > "$dir/load.log" 2>&1 || code=$?
    kill -TERM "$server" 2> /dev/null || true
    wait "$server" 2> /dev/null || true
    server=""
    python3 - "$dir/remote.json" "$code" "$p99_ms" "$scale" "$workload" << 'EOF'
import json, sys, tomllib
path, code, objective, scale, workload = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
seconds = tomllib.load(open(workload, "rb"))["load"]["duration_s"]
try:
    r = json.load(open(path))
except (OSError, ValueError):
    print(f"scale {scale:>6g}: no remote.json (load exited {code})")
    sys.exit(1)
lat = dict((op, p) for op, p in r["latency_ms"])
c = r["counts"]
create = lat.get("create", {"p50": float("nan"), "p99": float("inf")})
worst_op, worst = max(((op, p["p99"]) for op, p in lat.items()), key=lambda x: x[1])
bad = c["failed"] + c["unknown"]
passed = code == 0 and create["p99"] < objective and bad <= 0.001 * max(1, c["attempted"])
rate = r["arrivals"] / seconds
print(
    f"scale {scale:>6g}: {rate:7,.0f} payments/s  create p50 {create['p50']:6.1f} ms  p99 {create['p99']:7.1f} ms"
    f"  (worst p99: {worst_op} {worst:.1f} ms)  failed+unknown {bad}  429s {c['rate_limited']}"
    f"  late+dropped {c['late_arrivals'] + c['dropped_arrivals']}  exit {code}  {'pass' if passed else 'FAIL'}"
)
with open(path + ".rate", "w") as f:
    f.write(f"{rate:.0f} {create['p99']:.1f}\n")
sys.exit(0 if passed else 1)
EOF
}

echo "sweep of $workload: payments' corrected p99 under ${p99_ms} ms ($(nproc) cores, shared by server and generator)"
best=""
low=""
high=""
while step "$scale"; do
    low="$scale"
    best="$(cat "$tmp/step-$scale/remote.json.rate")"
    scale="$(python3 -c "print($scale * 2)")"
done
high="$scale"
if [[ -n "$low" ]]; then
    for _ in $(seq "$bisect"); do
        scale="$(python3 -c "print(round(($low + $high) / 2, 3))")"
        if step "$scale"; then
            low="$scale"
            best="$(cat "$tmp/step-$scale/remote.json.rate")"
        else
            high="$scale"
        fi
    done
fi
if [[ -z "$best" ]]; then
    echo "no step passed (even rate scale $high); try START=0.25"
    exit 1
fi
read -r rate p99 <<< "$best"
echo "highest sustained: ${rate} payments/s with create p99 ${p99} ms (rate scale ${low}; first failure at ${high})"
