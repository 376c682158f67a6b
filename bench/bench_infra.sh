#!/usr/bin/env bash
# Bring-up and tear-down of topologies/star32.yaml (32 guests, each with a management and a data
# link, one private Open vSwitch): `sfclab up` and `sfclab down` wall-clock times, median of 5,
# total and per guest, next to a baseline measured in the same run: the same 32 guests made the
# iproute2 way, one `ip` process per step as scripts and Mininet-like tools do (ip netns add, ip
# link add veth, ip link set netns, ip addr add, ip link set up; two links per guest, host ends
# in a namespace of their own), and removed with `ip netns del`. The baseline makes no cgroups,
# processes or switch, so the ratio is against a lower bound of what a script-built testbed
# costs. Target: under 50 ms per guest for `up`.
# Environment: SFCLAB (default bin/sfclab), RUNS (default 5), TOPOLOGY (default star32).
set -u
sfclab=${SFCLAB:-bin/sfclab}
topo=${TOPOLOGY:-topologies/star32.yaml}
runs=${RUNS:-5}
[ "$(id -u)" = 0 ] || { echo "bench_infra: skipped (needs root)"; exit 0; }
[ -x "$sfclab" ] || { echo "bench_infra: $sfclab not built"; exit 1; }
inst=sfct-it-bench-$$
base=sfct-itb$$
n_guests=$(grep -c '^ *- *{\{0,1\} *name: *g[0-9]' "$topo")
[ "$n_guests" -gt 0 ] || n_guests=32
made_ns=()

cleanup() {
    "$sfclab" -i "$inst" clean >/dev/null 2>&1
    for ((i = ${#made_ns[@]} - 1; i >= 0; i--)); do
        ip netns del "${made_ns[i]}" 2>/dev/null
    done
    made_ns=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# One baseline guest: its namespace, lo up, and two veths whose host ends stay in $base-host.
baseline_guest() {
    local g=$1 ns=$base-g$1 k
    made_ns+=("$ns")
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up || return 1
    for k in 0 1; do
        ip -n "$base-host" link add "g$g-eth$k" type veth peer name "eth$k" || return 1
        ip -n "$base-host" link set "eth$k" netns "$ns" || return 1
        ip -n "$ns" addr add "10.$((254 * (1 - k))).$((k)).$g/16" dev "eth$k" || return 1
        ip -n "$ns" link set "eth$k" up || return 1
        ip -n "$base-host" link set "g$g-eth$k" up || return 1
    done
}

baseline_up() {
    made_ns+=("$base-host")
    ip netns add "$base-host" || return 1
    for ((g = 1; g <= n_guests; g++)); do
        baseline_guest "$g" || return 1
    done
}

baseline_down() {
    for ((g = 1; g <= n_guests; g++)); do
        ip netns del "$base-g$g" || return 1
    done
    ip netns del "$base-host" || return 1
    made_ns=()
}

up_ms=() down_ms=() bup_ms=() bdown_ms=()
for ((r = 0; r < runs; r++)); do
    t0=$(now_ns)
    "$sfclab" -i "$inst" up "$topo" >/dev/null || { echo "bench_infra: sfclab up failed"; exit 1; }
    t1=$(now_ns)
    "$sfclab" -i "$inst" down >/dev/null || { echo "bench_infra: sfclab down failed"; exit 1; }
    t2=$(now_ns)
    up_ms+=($(( (t1 - t0) / 1000 ))) down_ms+=($(( (t2 - t1) / 1000 )))

    t0=$(now_ns)
    baseline_up || { echo "bench_infra: baseline up failed"; exit 1; }
    t1=$(now_ns)
    baseline_down || { echo "bench_infra: baseline down failed"; exit 1; }
    t2=$(now_ns)
    bup_ms+=($(( (t1 - t0) / 1000 ))) bdown_ms+=($(( (t2 - t1) / 1000 )))
done

# Microseconds in, milliseconds out.
med() { printf '%s\n' "$@" | median; }
up=$(med "${up_ms[@]}") down=$(med "${down_ms[@]}")
bup=$(med "${bup_ms[@]}") bdown=$(med "${bdown_ms[@]}")
awk -v n="$n_guests" -v runs="$runs" -v topo="$topo" -v up="$up" -v down="$down" \
    -v bup="$bup" -v bdown="$bdown" 'BEGIN {
    printf "infra: %s, %d guests, median of %d runs (wall clock of each command)\n", topo, n, runs
    printf "  %-28s %10s %12s %10s %12s\n", "", "up ms", "up ms/guest", "down ms", "down ms/guest"
    printf "  %-28s %10.1f %12.2f %10.1f %12.2f\n", "sfclab (netns + OVS)", up / 1e3, up / 1e3 / n, down / 1e3, down / 1e3 / n
    printf "  %-28s %10.1f %12.2f %10.1f %12.2f\n", "baseline: ip per step", bup / 1e3, bup / 1e3 / n, bdown / 1e3, bdown / 1e3 / n
    printf "  ratio sfclab/baseline: up %.2fx, down %.2fx, up+down %.2fx\n", up / bup, down / bdown, (up + down) / (bup + bdown)
    printf "  target: up under 50 ms per guest: %s\n", up / 1e3 / n < 50 ? "met" : "NOT met"
}'
