#!/usr/bin/env bash
# star32 up+down against Mininet, side by side in one run: `sfclab up topologies/star32.yaml`
# then `sfclab down` (32 guests, a management and a data link each, a private Open vSwitch,
# cgroups, an agent in every guest), against `mn --topo single,32 --switch lxbr --controller
# none --test none` (32 hosts on one Linux bridge, brought up and torn down), alternating
# rounds, both pinned to the same CPUs (taskset), median of RUNS rounds each. Prints sfclab's
# up and down apart, each total, the ratio sfclab/Mininet and the load average. Mininet is not
# in DEPS_DEB: without `mn` the bench says so and exits 0.
# With BASE set to another build's sfclab (e.g. main's), it runs in the same rounds, so a change
# is measured before and after side by side, each as its ratio to the same Mininet runs.
# Environment: SFCLAB (default bin/sfclab), BASE (none), RUNS (default 5), CPUS (default 0,1).
set -u
sfclab=${SFCLAB:-bin/sfclab}
runs=${RUNS:-5}
cpus=${CPUS:-0,1}
[ "$(id -u)" = 0 ] || { echo "bench_mininet: skipped (needs root)"; exit 0; }
command -v mn >/dev/null || { echo "bench_mininet: skipped (no Mininet: apt-get install mininet)"; exit 0; }
base=${BASE:-}
[ -x "$sfclab" ] || { echo "bench_mininet: $sfclab not built"; exit 1; }
[ -z "$base" ] || [ -x "$base" ] || { echo "bench_mininet: $base not built"; exit 1; }
inst=sfct-mn-bench-$$
trap '"$sfclab" -i "$inst" clean >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
med() { printf '%s\n' "$@" | median; }

# One `up` then `down` of star32 by sfclab binary $1: appends to the arrays named $2 and $3.
up_down() {
    local t0 t1 t2
    t0=$(now_ns)
    taskset -c "$cpus" "$1" -i "$inst" up topologies/star32.yaml >/dev/null \
        || { echo "bench_mininet: $1 up failed"; exit 1; }
    t1=$(now_ns)
    taskset -c "$cpus" "$1" -i "$inst" down >/dev/null \
        || { echo "bench_mininet: $1 down failed"; exit 1; }
    t2=$(now_ns)
    eval "$2+=($(( (t1 - t0) / 1000 ))) $3+=($(( (t2 - t1) / 1000 )))"
}

load0=$(cut -d' ' -f1 /proc/loadavg)
up_us=() down_us=() mn_us=() bup_us=() bdown_us=()
for ((r = 0; r < runs; r++)); do
    up_down "$sfclab" up_us down_us
    [ -z "$base" ] || up_down "$base" bup_us bdown_us

    t0=$(now_ns)
    taskset -c "$cpus" mn --topo single,32 --switch lxbr --controller none --test none \
        >/dev/null 2>&1 || { echo "bench_mininet: mn failed"; exit 1; }
    t1=$(now_ns)
    mn_us+=($(( (t1 - t0) / 1000 )))
done
load1=$(cut -d' ' -f1 /proc/loadavg)
up=$(med "${up_us[@]}") down=$(med "${down_us[@]}") mnt=$(med "${mn_us[@]}")
bup=0 bdown=0
[ -z "$base" ] || { bup=$(med "${bup_us[@]}"); bdown=$(med "${bdown_us[@]}"); }
awk -v runs="$runs" -v up="$up" -v down="$down" -v mn="$mnt" -v cpus="$cpus" \
    -v l0="$load0" -v l1="$load1" -v base="$base" -v bup="$bup" -v bdown="$bdown" 'BEGIN {
    printf "star32 up+down vs Mininet single,32 (lxbr), median of %d alternating rounds, CPUs %s, load %s -> %s\n", runs, cpus, l0, l1
    printf "  sfclab: up %.0f ms, down %.0f ms, up+down %.0f ms\n", up / 1e3, down / 1e3, (up + down) / 1e3
    if (base != "")
        printf "  base (%s): up %.0f ms, down %.0f ms, up+down %.0f ms, ratio to Mininet %.2f\n", base, bup / 1e3, bdown / 1e3, (bup + bdown) / 1e3, (bup + bdown) / mn
    printf "  Mininet: up+down %.0f ms\n", mn / 1e3
    printf "  ratio sfclab/Mininet: %.2f (target < 0.3); sfclab up+down under 600 ms: %s\n", (up + down) / mn, (up + down) / 1e3 < 600 ? "met" : "NOT met"
}'
