#!/usr/bin/env bash
# Data-plane benchmark: for the same guests in one run, p50/p99 RTT (closed loop, 200-byte
# UDP echo) and maximum echoed pps (64-byte datagrams, flat out) of
#   (a) the bare path   client -> switch -> echo
#   (b) the chain       client -> classifier -> sff -> N x fwd vnf -> sff -> echo, N = 1, 2, 4
# each chain reported as a ratio to the bare path, with the cost per extra component.
# The switch is a kernel bridge in a namespace of its own (the private userspace OVS of the
# testbed is the orchestrator's; with it every frame pays an OVS hop instead). Root only.
set -u
[ "$(id -u)" = 0 ] || { echo "bench/dataplane.sh: needs root, skipped"; exit 0; }
SFCD=${SFCD:-$(pwd)/bin/sfcd}
COUNT=${COUNT:-3000}
SECS=${SECS:-3}
P=sfct-dpb-$$
TMP=$(mktemp -d /tmp/sfct-dpb-$$.XXXXXX)
NAMES="sw cl cls sff v1 v2 v3 v4 echo"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    [ -n "${DEBUG:-}" ] && tail -n 5 "$TMP"/*.log
    for n in $NAMES; do ip netns del "$P-$n" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$P-sw" && ip -n "$P-sw" link add br0 type bridge && ip -n "$P-sw" link set br0 up \
    || { echo "no kernel bridge: skipped"; exit 0; }
i=0
for n in cl cls sff v1 v2 v3 v4 echo; do
    i=$((i + 1))
    ip netns add "$P-$n"
    ip link add "db$$-$i" netns "$P-sw" type veth peer name eth1 netns "$P-$n"
    ip -n "$P-sw" link set "db$$-$i" master br0 up
    ip -n "$P-$n" link set lo up
    ip -n "$P-$n" link set eth1 address "02:00:00:00:01:0$i" up
    ip -n "$P-$n" addr add "10.98.0.$i/24" dev eth1
done
CLS=02:00:00:00:01:02 SFF=02:00:00:00:01:03 ECHO=02:00:00:00:01:08
V1=02:00:00:00:01:04 V2=02:00:00:00:01:05 V3=02:00:00:00:01:06 V4=02:00:00:00:01:07
# 10.98.0.8 is the echo guest reached directly; 10.98.0.100 (also on echo) through the chain.
ip -n "$P-echo" addr add 10.98.0.100/32 dev eth1
ip -n "$P-cl" neigh replace 10.98.0.100 lladdr $CLS dev eth1 nud permanent
ip -n "$P-cl" neigh replace 10.98.0.8 lladdr $ECHO dev eth1 nud permanent

run() { local ns=$1; shift; ip netns exec "$P-$ns" "$SFCD" "$@" >>"$TMP/$ns.log" 2>&1 & PIDS+=($!); }
run echo echo --iface eth1 --port 7
run sff sff --iface eth1 --path 1:$V1 --path 2:$V1,$V2 --path 4:$V1,$V2,$V3,$V4 --egress-mac $ECHO
for v in v1 v2 v3 v4; do run $v vnf --iface eth1 --fn fwd; done
sleep 0.5

# Frames the switch received, from its ports' counters (each bridge port's rx is what a guest
# sent into the switch): their growth over a closed-loop run / the requests sent is the number
# of switch traversals of one request and its answer, counted rather than assumed.
switch_rx() {
    ip netns exec "$P-sw" sh -c "cat /sys/class/net/db$$-*/statistics/rx_packets" |
        awk '{ s += $1 } END { print s + 0 }'
}
measure() { # LABEL DST -> "p50 p99 pps traversals"
    local dst=$2 rtt pps rx0 rx1 sent
    rx0=$(switch_rx)
    rtt=$(ip netns exec "$P-cl" "$SFCD" client --workload echo --iface eth1 --dst "$dst" \
          --count "$COUNT" --size 200 --timeout 200ms)
    rx1=$(switch_rx)
    sent=$(echo "$rtt" | sed -n 's/.* sent=\([0-9]*\) .*/\1/p')
    pps=$(ip netns exec "$P-cl" "$SFCD" client --workload udp --iface eth1 --dst "$dst" \
          --size 64 --duration "${SECS}s")
    echo "$(echo "$rtt" | sed -n 's/.*p50=\([0-9.]*\) p99=\([0-9.]*\).*/\1 \2/p') \
$(echo "$pps" | sed -n 's/.* rx_pps=\([0-9]*\) .*/\1/p') \
$(awk -v a="$rx0" -v b="$rx1" -v n="${sent:-0}" 'BEGIN { printf "%.2f", n ? (b - a) / n : 0 }')"
}
declare -A R
R[bare]=$(measure bare 10.98.0.8)
for n in 1 2 4; do
    ip netns exec "$P-cls" "$SFCD" classifier --iface eth1 --sff-mac $SFF --spi $n \
        --rule udp,dport=7 >"$TMP/cls.log" 2>&1 &
    cpid=$!
    sleep 0.3
    R[$n]=$(measure chain$n 10.98.0.100)
    kill $cpid; wait $cpid 2>/dev/null
done
read -r b50 b99 bpps btrav <<<"${R[bare]}"
printf "%-12s %10s %10s %10s %12s %12s %11s\n" path p50_us p99_us max_pps p50_ratio pps_ratio traversals
printf "%-12s %10s %10s %10s %12s %12s %11s\n" bare "$b50" "$b99" "$bpps" 1.00 1.00 "$btrav"
for n in 1 2 4; do
    read -r p50 p99 pps trav <<<"${R[$n]}"
    awk -v n=$n -v a="$p50" -v b="$p99" -v c="$pps" -v t="$trav" -v b50="$b50" -v bpps="$bpps" 'BEGIN {
        printf "%-12s %10s %10s %10s %12.2f %12.2f %11s\n", "chain-" n "fwd", a, b, c, a / b50, c / bpps, t }'
done
read -r p1 _ _ t1 <<<"${R[1]}"; read -r p4 _ _ t4 <<<"${R[4]}"
awk -v p1="$p1" -v p4="$p4" -v t1="$t1" -v t4="$t4" 'BEGIN {
    printf "cost per extra fwd VNF (incl. its %.1f switch traversals): %.1f us of RTT\n", (t4 - t1) / 3, (p4 - p1) / 3 }'
read -r _ _ c1 _ <<<"${R[1]}"
# A switch that forwards F frames/s moves F / traversals requests/s: the chain's fair share of
# the bare path's rate is bare pps x bare traversals / chain traversals (both counted above).
awk -v c1="$c1" -v b="$bpps" -v tb="$btrav" -v t1="$t1" 'BEGIN {
    if (tb <= 0 || t1 <= 0) { print "switch traversals not counted: no ratio"; exit 1 }
    printf "1-VNF chain: %.2f switch traversals per request and answer (bare: %.2f, from port counters); chain pps / (bare pps x %.2f / %.2f) = %.2f (target >= 0.80)\n", t1, tb, tb, t1, c1 / (b * tb / t1) }'
