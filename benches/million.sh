#!/usr/bin/env bash
# Speed and memory benchmark: runs N payments (default 1,000,000) through the
# whole stack in virtual time with the checker on, three times, and prints the
# median payments per wall-clock second, peak RSS and the CPU (user + system,
# every thread) each payment took, all from perf.json: unlike wall time, CPU
# does not depend on how many cores the run found free.
#
#   benches/million.sh            # 1,000,000 payments
#   SCALE=0.25 benches/million.sh # 250,000 payments (to see how RSS scales)
#   CELLS=1 benches/million.sh    # one stack on one thread (million.toml
#                                 # splits into 16 cells, run one a core)
#   CELLS=2 benches/million.sh    # one cell a core: one region each
#   ARGS=--no-resilience benches/million.sh   # extra `run` options
#   PROFILE=release benches/million.sh        # the build `cargo run
#                                 # --release` makes (default: the `fast`
#                                 # profile of Cargo.toml, whole-program
#                                 # optimised; several minutes to build)
#   PROFILE=pgo benches/million.sh            # `fast` guided by a profile
#                                 # of the shipped workloads (benches/pgo.sh:
#                                 # two builds and five training runs, about
#                                 # 5 minutes, only when a source file is
#                                 # newer than target/pgo/paystorm; needs
#                                 # `rustup component add llvm-tools`)
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${SCALE:-1}"
runs="${RUNS:-3}"
profile="${PROFILE:-fast}"
case "$profile" in
  fast | release) bin="./target/$profile/paystorm" ;;
  dev) bin=./target/debug/paystorm ;;
  pgo) bin=./target/pgo/paystorm ;;
  *) echo "error: PROFILE=$profile: this script builds fast (the default), release, dev or pgo" >&2; exit 4 ;;
esac
if [ "$profile" = pgo ]; then
  # Its training runs and two whole-program builds take minutes: only
  # when the binary is missing or older than the code it was built from.
  if [ ! -x "$bin" ] || [ -n "$(find src benches/pgo.sh Cargo.toml Cargo.lock -newer "$bin" -print -quit)" ]; then
    benches/pgo.sh
  fi
else
  cargo build --profile "$profile" --quiet
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed "s/^duration_s = 100$/duration_s = $(python3 -c "print(100*$scale)")/" benches/million.toml > "$tmp/bench.toml"
for i in $(seq 1 "$runs"); do
  # shellcheck disable=SC2086 # ARGS is a list of options
  "$bin" run "$tmp/bench.toml" ${CELLS:+--cells "$CELLS"} ${ARGS:-} --out "$tmp/run$i" > "$tmp/run$i.log" || { cat "$tmp/run$i.log"; exit 1; }
done
python3 - "$tmp" "$runs" "$profile" <<'PY'
import json, statistics, sys
tmp, runs = sys.argv[1], int(sys.argv[2])
perf = [json.load(open(f"{tmp}/run{i}/perf.json")) for i in range(1, runs + 1)]
res = json.load(open(f"{tmp}/run1/results.json"))
med = lambda k: statistics.median(p[k] for p in perf)
print(f"payments attempted:        {res['counts']['attempted']:,}")
print(f"build profile:             {sys.argv[3]}")
print(f"cells:                     {perf[0].get('cells', 1)} ({perf[0].get('jobs', 1)} at a time, each on a thread with its checker on another)")
print(f"invariants passed:         {all(i['passed'] for i in res['invariants'])}")
print(f"wall seconds (median):     {med('wall_seconds'):.2f}")
print(f"payments per wall second:  {med('payments_per_wall_second'):,.0f}  (median of {runs})")
print(f"peak RSS:                  {med('peak_rss_bytes')/2**20:,.0f} MiB")
cpu = [p.get("cpu_us_per_payment") for p in perf]
if all(c is not None for c in cpu):
    print(f"CPU per payment (median):  {statistics.median(cpu):.1f} µs  (user + system, all threads)")
    system = [p.get("cpu_system_seconds") for p in perf]
    if all(s is not None for s in system):
        print(f"  of it system (median):   {statistics.median(system) * 1e6 / res['counts']['attempted']:.1f} µs  "
              "(mostly first touches of fresh memory; see benches/first_touch.c)")
else:
    print("CPU per payment:           not measured (perf.json has it on Unix only)")
print(f"retained idempotency keys: {perf[0]['retained_idempotency_keys']:,}")
print(f"store bytes per key:       {perf[0]['idempotency_bytes_per_key']} (entry + table slot + prune queue)")
n = res['counts']['attempted']
e = perf[0]['engine']
print(f"engine per payment:        {e['tasks_spawned']/n:.2f} tasks, {e['polls']/n:.2f} polls, "
      f"{e['timers_set']/n:.2f} timers set ({e['timers_fired']/n:.2f} fired); peak {e['peak_tasks']:,} tasks alive")
PY
