#!/usr/bin/env bash
# What one payment costs, counted rather than timed: instructions, level-1
# data-cache misses and last-level misses (trips to memory) per payment, both
# threads together, from cachegrind's simulated caches.
#
# Wall-clock figures on a shared VM drift by ±40% within an hour, so two
# commits compare only when run side by side, many times. cachegrind counts
# exactly: the same binary and seed give the same count, so a change of 1%
# shows. It runs `benches/million.toml` twice under cachegrind, at A and at
# 2A simulated seconds (default A = 3: 30,000 and 60,000 payments), and
# divides the difference by the difference in payments, so start-up and the
# end-of-run read cancel out. About 4 minutes.
#
#   benches/instructions.sh               # the marginal cost per payment
#   SECONDS_A=2 benches/instructions.sh   # smaller runs, quicker
#   TOP=25 benches/instructions.sh        # and the 25 costliest functions
#   TOP=25 BY=misses benches/instructions.sh   # ... by L1 misses instead
#   CELLS=2 benches/instructions.sh       # split as million.toml is (default:
#                                         # one stack, the cost of the work)
#
# Caveat: valgrind's CPU has no SHA extensions, so the webhook signatures
# run sha2's software fallback under it (about half the count); natively
# they take SHA-NI and are about 2% of a profile. The script reports the
# count with and without SHA-256.
#
# Needs valgrind (Debian: apt-get install valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind > /dev/null || { echo "error: valgrind is not installed (Debian: apt-get install valgrind)" >&2; exit 4; }
a="${SECONDS_A:-3}"
top="${TOP:-0}"
by="${BY:-instructions}"
cargo build --release --quiet
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for s in "$a" "$((2 * a))"; do
  sed "s/^duration_s = 100$/duration_s = $s/" benches/million.toml > "$tmp/b$s.toml"
  valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file="$tmp/cg$s.out" \
    ./target/release/paystorm run "$tmp/b$s.toml" --cells "${CELLS:-1}" --quiet --out "$tmp/run$s" > /dev/null 2> "$tmp/vg$s.log" \
    || { cat "$tmp/vg$s.log" >&2; exit 1; }
done
cg_diff "$tmp/cg$a.out" "$tmp/cg$((2 * a)).out" > "$tmp/diff.out" 2> /dev/null
cg_annotate --show=Ir,D1mr,D1mw,DLmr,DLmw --threshold=0 --auto=no "$tmp/diff.out" > "$tmp/diff.txt" 2> /dev/null
python3 - "$tmp" "$a" "$top" "$by" <<'PY'
import json, re, sys
tmp, a, top, by = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
paid = [json.load(open(f"{tmp}/run{s}/results.json"))["counts"]["attempted"] for s in (a, 2 * a)]
n = paid[1] - paid[0]
rows, started, totals = [], False, None
# A row: five counts (each "." for zero, and with a "(p%)" beside it in some
# layouts), then the function.
count = r"(-?[\d,]+|\.)\s+(?:\(\s*-?[\d.]+%\)\s+)?"
row = re.compile(r"\s*" + count * 5 + r"(\S.*)")
num = lambda x: 0 if x == "." else int(x.replace(",", ""))
for line in open(f"{tmp}/diff.txt"):
    if "PROGRAM TOTALS" in line:
        totals = int(line.split()[0].replace(",", ""))
        continue
    m = row.match(line)
    if m:
        started = True
        g = [num(m.group(i)) for i in range(1, 6)]
        rows.append((g[0], g[1] + g[2], g[3] + g[4], m.group(6)))
    elif started and (not line.strip() or line.startswith("--")):
        break
ir = sum(r[0] for r in rows)
miss = sum(r[1] for r in rows)
ll = sum(r[2] for r in rows)
# This parser reads valgrind 3.19's cg_annotate table; a newer layout
# (3.21+ rewrote cg_annotate) must not give a quietly wrong answer.
if totals is None or abs(ir - totals) > max(1, totals // 1000):
    sys.exit(f"error: could not read cg_annotate's table (rows sum to {ir:,}, PROGRAM TOTALS {totals}); "
             f"this script reads valgrind 3.19's layout, see {tmp}/diff.txt")
sha = sum(r[0] for r in rows if "sha2::" in r[3] or "/sha2-" in r[3])
print(f"payments: {paid[0]:,} and {paid[1]:,} ({a} and {2 * a} simulated seconds); per payment of the difference:")
print(f"  instructions:            {ir / n:,.0f}")
print(f"  without SHA-256:         {(ir - sha) / n:,.0f}  (SHA-256 {sha / n:,.0f}: software under valgrind)")
print(f"  L1 data-cache misses:    {miss / n:,.0f}")
print(f"  last-level misses:       {ll / n:,.0f}  (each one a trip to memory)")
if top:
    print(f"costliest functions (per payment: instructions, L1 misses, last-level misses):")
    column = {"instructions": 0, "misses": 1, "last-level": 2}.get(by)
    if column is None:
        sys.exit(f"error: BY={by}: expected instructions, misses or last-level")
    for r in sorted(rows, key=lambda r: -r[column])[:top]:
        print(f"  {r[0] / n:9,.0f} {r[1] / n:7,.0f} {r[2] / n:6,.1f}  {r[3][:150]}")
PY
