#!/usr/bin/env bash
# Two builds compared on a noisy machine: runs them at the same time, so both
# see the same VM, and compares the CPU each used.
#
# Taking turns does not work on a shared VM: its speed drifts by ±40% within
# an hour, and on this one the second run of a back-to-back pair came out
# slower most of the time, whichever build it was. Started together, the two
# runs share whatever the machine does to them (each runs the million
# benchmark's cells two at a time, with their checkers: eight busy threads
# on two cores), and the build that does less work uses less CPU and
# finishes first. Each pair swaps which one starts first.
#
# CPU here is user plus system time: the kernel's share is mostly zeroing
# pages the allocator asks for again after returning them, which a change
# to memory use can move by as much as the user time.
#
#   benches/ab.sh OLD NEW                 # two paystorm binaries, 7 pairs
#                                         # (7 of 7 one way: sign test p = 0.016;
#                                         # 5 of 5 cannot get under 0.05)
#   PAIRS=9 benches/ab.sh OLD NEW         # more pairs
#   WORKLOAD=workloads/flash-sale.toml benches/ab.sh OLD NEW
#
# To keep a build to compare against: `cp target/release/paystorm /tmp/old`
# before the change, then rebuild and pass both. Results must be the same
# for the two builds if the change meant to keep them: the script says
# whether results.json came out byte-identical.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -ne 2 ] || [ ! -x "$1" ] || [ ! -x "$2" ]; then
  echo "usage: benches/ab.sh OLD_BINARY NEW_BINARY (two paystorm executables)" >&2
  exit 4
fi
old="$1"
new="$2"
pairs="${PAIRS:-7}"
workload="${WORKLOAD:-benches/million.toml}"
[ -f "$workload" ] || { echo "error: WORKLOAD=$workload: no such file" >&2; exit 4; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
one() { # name binary
  /usr/bin/time -f "%U %S %e" -o "$tmp/$1.time" "$2" run "$workload" --quiet --out "$tmp/$1" > /dev/null 2> "$tmp/$1.err" \
    || { echo "error: $2 failed on $workload:" >&2; cat "$tmp/$1.err" >&2; exit 1; }
}
identical=yes
for i in $(seq 1 "$pairs"); do
  if [ $((i % 2)) -eq 1 ]; then
    one old "$old" & started=$!; one new "$new"; wait "$started"
  else
    one new "$new" & started=$!; one old "$old"; wait "$started"
  fi
  cmp -s "$tmp/old/results.json" "$tmp/new/results.json" || identical=no
  echo "$(cat "$tmp/old.time") $(cat "$tmp/new.time")" >> "$tmp/pairs"
done
python3 - "$tmp/pairs" "$identical" <<'PY'
import math, statistics, sys
# Per pair: old user, system, wall, then new's; CPU is user + system.
raw = [list(map(float, l.split())) for l in open(sys.argv[1])]
rows = [(uo + so, wo, un + sn, wn, so, sn) for uo, so, wo, un, sn, wn in raw]
print("pair  CPU old / new (s)   of it system      wall old / new (s)  new/old CPU")
for i, (uo, wo, un, wn, so, sn) in enumerate(rows, 1):
    print(f"{i:4}  {uo:7.2f} / {un:<7.2f}   {so:5.2f} / {sn:<5.2f}   {wo:7.2f} / {wn:<7.2f}     {un / uo:.3f}")
ratios = [un / uo for uo, _, un, _, _, _ in rows]
first = sum(1 for _, wo, _, wn, _, _ in rows if wn < wo)
print(f"median new/old CPU: {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}); "
      f"new finished first in {first} of {len(rows)}")
# How often n fair coin tosses split at least this unevenly: the chance of
# seeing this many pairs on one side if the two builds cost the same.
# Ties say nothing either way and are left out.
below = sum(1 for r in ratios if r < 1)
above = sum(1 for r in ratios if r > 1)
n = below + above
k = max(below, above)
p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n) if n else 1.0
print(f"pairs where new used less CPU: {below}, more: {above} (sign test, two-sided: p = {p:.3f}); "
      f"trust a shift of a few percent only with p under 0.05, and again in another hour")
print(f"results.json byte-identical in every pair: {sys.argv[2]}")
PY
