#!/usr/bin/env bash
# HTTP transport benchmark (issue 7, "Speed" a): paystorm's HTTP client — the
# transport the load generator drives a live stack with — against `wrk`, on
# the same trivial hyper endpoint at the same connection count. Both are
# closed-loop here (each connection sends its next request when the last
# answer arrives), so requests per second compare directly; paystorm also
# parses every reply into the domain's types and records an HdrHistogram.
# Target from the issue: paystorm at least 0.9x wrk's rate.
#
#   benches/http.sh                      # 64 connections, 10 s each
#   CONNS=256 SECS=20 benches/http.sh
#
# Needs wrk (Debian: apt-get install -y wrk). Client and server share the
# machine, so on 2 cores both tools are bounded by the server's share.
set -euo pipefail
cd "$(dirname "$0")/.."
conns="${CONNS:-64}"
secs="${SECS:-10}"
port="${PORT:-18181}"
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --quiet --bench http
bin="$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/http-* | grep -v '\.d$' | head -1)"
"$bin" server "127.0.0.1:$port" 2> /dev/null &
server=$!
trap 'kill "$server" 2> /dev/null || true' EXIT
sleep 0.5
wrk_out="$(wrk -t 2 -c "$conns" -d "${secs}s" --latency "http://127.0.0.1:$port/v1/payments/pay_1")"
wrk_rps="$(awk '/Requests\/sec/ {print $2}' <<< "$wrk_out")"
wrk_p50="$(awk '$1 == "50%" {print $2}' <<< "$wrk_out")"
wrk_p99="$(awk '$1 == "99%" {print $2}' <<< "$wrk_out")"
echo "wrk:      ${wrk_rps} requests/s  p50 ${wrk_p50}  p99 ${wrk_p99}  (${conns} connections, ${secs} s, 2 threads)"
ours="$("$bin" client "http://127.0.0.1:$port" "$conns" "$secs")"
echo "$ours"
ours_rps="$(awk '{print $2}' <<< "$ours")"
python3 -c "print(f'ratio:    paystorm / wrk = {float($ours_rps) / float($wrk_rps):.2f} (target >= 0.9)')"
