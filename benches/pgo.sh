#!/usr/bin/env bash
# Builds the fastest paystorm this repository knows how to make: the `fast`
# profile (whole-program optimised) guided by a profile of paystorm's own
# runs (profile-guided optimisation, PGO), into target/pgo/paystorm.
#
# Why: the stack's cost is spread over hundreds of small functions and a
# chain of futures polled about ten times a payment; no single one is worth
# rewriting (docs/performance.md). What the compiler cannot know without a
# profile is which of their branches are taken and which calls are hot,
# and that is what PGO tells it: on the million benchmark it used about 9%
# less CPU than the plain `fast` build (benches/ab.sh; README, Measured).
#
# How: an instrumented build runs a training set, llvm-profdata merges what
# it counted, and a second build uses it. The training set is the shipped
# workloads and a chaos plan, not the benchmark: the gain should come from
# how the stack runs in general, not from having seen the benchmark.
#
#   benches/pgo.sh                      # build target/pgo/paystorm
#   benches/ab.sh target/fast/paystorm target/pgo/paystorm   # what it bought
#
# Needs llvm-profdata from the same LLVM as rustc: `rustup component add
# llvm-tools`. Two builds of the whole crate: about 5 minutes on 2 cores.
# results.json does not change: PGO moves code, not what it computes.
set -euo pipefail
cd "$(dirname "$0")/.."
host="$(rustc -vV | sed -n 's/^host: //p')"
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  echo "error: benches/pgo.sh needs llvm-profdata from rustc's own LLVM, and $profdata is missing; with a rustup toolchain, install it with \`rustup component add llvm-tools\` (a system llvm-profdata of another LLVM version cannot read rustc's profiles; with a distribution's rustc, use the llvm-profdata of the LLVM version \`rustc -vV\` names)" >&2
  exit 4
fi
data="$PWD/target/pgo-data"
# The instrumented binary writes where this says, if it is set: into $data.
export LLVM_PROFILE_FILE="$data/%m_%p.profraw"
rm -rf "$data"
mkdir -p "$data" target/pgo
echo "1/3 instrumented build (target/pgo-gen)" >&2
RUSTFLAGS="-Cprofile-generate=$data" cargo build --profile fast --quiet --target-dir target/pgo-gen
# The build scripts of dependencies were instrumented too and wrote
# profiles of their own: keep only the training runs'.
rm -rf "$data" && mkdir -p "$data"
echo "2/3 training runs" >&2
trained="$(mktemp -d)"
trap 'rm -rf "$trained"' EXIT
train() {
  ./target/pgo-gen/fast/paystorm run "$@" --quiet --out "$trained/out" > "$trained/log" 2>&1 \
    || { echo "error: training run \`paystorm run $*\` failed:" >&2; cat "$trained/log" >&2; exit 1; }
}
train workloads/steady.toml
train workloads/steady.toml --chaos chaos/monkey.toml
train workloads/flash-sale.toml
train workloads/black-friday.toml --rate-scale 0.2
train workloads/singles-day-peak.toml --rate-scale 0.005 --cells 16
"$profdata" merge -o "$data/merged.profdata" "$data"/*.profraw
echo "3/3 build using the profile (target/pgo-use)" >&2
RUSTFLAGS="-Cprofile-use=$data/merged.profdata" cargo build --profile fast --quiet --target-dir target/pgo-use
cp target/pgo-use/fast/paystorm target/pgo/paystorm
echo "built target/pgo/paystorm" >&2
