#!/usr/bin/env bash
# HTTP transport benchmark (issue 7, "Speed" a): paystorm's HTTP client — the
# transport the load generator drives a live stack with — against `wrk`, on
# the same trivial hyper endpoint at the same connection count and thread
# count. Both are closed-loop here (each connection sends its next request
# when the last answer arrives), so requests per second compare directly;
# paystorm also parses every reply into the domain's types and records an
# HdrHistogram of the latency. Target from the issue: paystorm at least 0.9x
# wrk's rate.
#
#   benches/http.sh                         # 64 connections, 2 threads, 3 rounds of 10 s
#   CONNS=256 SECS=20 ROUNDS=5 benches/http.sh
#   THREADS=1 benches/http.sh               # wrk -t 1 against a 1-worker runtime
#
# Rounds alternate wrk and paystorm back to back, and the figure is the
# median of the rounds' ratios: on a shared machine the rate drifts between
# rounds, and a pair run back to back sees the same drift. With
# /usr/bin/time present each line also gives the client's CPU time per
# request (user + system), the figure that decides the race: client and
# server share the machine, so every microsecond a client spends is one the
# server does not get, and whichever tool costs less per request leaves the
# server more. THREADS is the same for both tools so neither gets more
# parallelism; on 2 cores neither tool's extra thread buys much, since the
# server is the one that needs the CPU.
#
# Needs wrk (Debian: apt-get install -y wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
conns="${CONNS:-64}"
secs="${SECS:-10}"
rounds="${ROUNDS:-3}"
threads="${THREADS:-2}"
port="${PORT:-18181}"
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --quiet --bench http
bin="$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/http-* | grep -v '\.d$' | head -1)"
"$bin" server "127.0.0.1:$port" 2> /dev/null &
server=$!
tmp="$(mktemp -d)"
trap 'kill "$server" 2> /dev/null || true; rm -rf "$tmp"' EXIT
sleep 0.5

# Runs "$@" and leaves its user + system CPU seconds in $cpu ("" without
# /usr/bin/time).
timed() {
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f "%U %S" -o "$tmp/cpu" "$@"
        cpu="$(awk '{print $1 + $2}' "$tmp/cpu")"
    else
        "$@"
        cpu=""
    fi
}
per_request() { # CPU_SECONDS REQUESTS
    [[ -n "$1" ]] && python3 -c "print(f'  client CPU {1e6 * $1 / $2:.1f} us/request')" || true
}

wrk_rates=()
ours_rates=()
for round in $(seq "$rounds"); do
    timed wrk -t "$threads" -c "$conns" -d "${secs}s" --latency "http://127.0.0.1:$port/v1/payments/pay_1" > "$tmp/out"
    wrk_out="$(cat "$tmp/out")"
    wrk_rps="$(awk '/Requests\/sec/ {print $2}' <<< "$wrk_out")"
    wrk_n="$(awk '/requests in/ {print $1}' <<< "$wrk_out")"
    wrk_p50="$(awk '$1 == "50%" {print $2}' <<< "$wrk_out")"
    wrk_p99="$(awk '$1 == "99%" {print $2}' <<< "$wrk_out")"
    echo "round $round wrk:      ${wrk_rps} requests/s  p50 ${wrk_p50}  p99 ${wrk_p99}  (${conns} connections, ${secs} s, ${threads} threads)$(per_request "$cpu" "$wrk_n")"
    wrk_rates+=("$wrk_rps")

    timed "$bin" client "http://127.0.0.1:$port" "$conns" "$secs" "$threads" > "$tmp/out"
    ours="$(cat "$tmp/out")"
    ours_n="$(sed -E 's/.*\(([0-9]+) requests.*/\1/' <<< "$ours")"
    echo "round $round ${ours}$(per_request "$cpu" "$ours_n")"
    ours_rates+=("$(awk '{print $2}' <<< "$ours")")
done
python3 - "${wrk_rates[*]}" "${ours_rates[*]}" << 'EOF'
import statistics, sys
wrk = [float(x) for x in sys.argv[1].split()]
ours = [float(x) for x in sys.argv[2].split()]
print(f"median:   wrk {statistics.median(wrk):,.0f}  paystorm {statistics.median(ours):,.0f} requests/s")
ratios = [o / w for w, o in zip(wrk, ours)]
print("rounds:   paystorm / wrk = " + " ".join(f"{r:.2f}" for r in ratios))
print(f"ratio:    paystorm / wrk = {statistics.median(ratios):.2f}, the median round (target >= 0.9); {statistics.median(ours) / statistics.median(wrk):.2f} of the medians")
EOF
