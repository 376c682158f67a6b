#!/usr/bin/env bash
# `sfclab run --switch-rx on` (instance.h's switch_rx): the frames that guests held to less
# than a CPU send to the switch are received on the switch's CPU, RPS on their data ports, so
# that the switch's work does not come out of a VNF's CPU quota (resources.vnf). Checks, on a
# chain of two forwarders kept up after a short UDP run: with it the VNFs' data ports in the
# switch's namespace have rps_cpus = the PMD's CPU, the client's, classifier's, SFF's and
# server's (a CPU each) none, and the run records switch_rx_cpu; by default no port has one and
# nothing is recorded; the host's receive backlog is 16384 while the steered instance lives
# and what it was after `down`; and the datagrams went through. About 10 s.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init srx

cat >"$tmp/srx.yaml" <<'EOY'
experiment: switch-rx
provider: netns
scheme: none
params: {}
chain: {length: 2, fill: {fn: fwd}, vnfs: [], rules: ["udp"]}
resources: {vnf: {cpus: 0.5, period: 25ms}}
workload: {kind: udp, size: 512, duration: 2s, rate: 500, timeout: 500ms}
repetitions: 1
seed: 1
EOY

# rps_cpus of every interface of the instance's switch namespace but lo, as "NAME MASK" lines,
# the mask without leading zeros (it is as wide as the host's CPUs: CPU 1 reads 2, 02 or
# 00000002; none reads empty). Read through a sysfs mounted in that namespace, in a mount
# namespace of its own.
rps_of_ports() {
    local pid
    pid=$(pgrep -f "ovs-vswitchd.*/$inst/" | head -1)
    [ -n "$pid" ] || return 1
    nsenter -t "$pid" -n unshare -m sh -c 'mount --make-rprivate / && mount -t sysfs none /sys &&
        for d in /sys/class/net/*; do
            n=${d##*/}; [ "$n" = lo ] || echo "$n $(cat "$d/queues/rx-0/rps_cpus")"
        done' | awk '{ m = $2; sub(/^[0,]+/, "", m); print $1, m }'
}

backlog=/proc/sys/net/core/netdev_max_backlog
backlog_before=$(cat "$backlog")
for mode in on default; do
    args=()
    [ "$mode" = on ] && args=(--switch-rx on)
    if ! run_experiment "$tmp/$mode.log" "$tmp/srx.yaml" --fresh --keep "${args[@]}"; then
        fail "$mode: run: $(tail -5 "$tmp/$mode.log")"
        continue
    fi
    run=$(q "select max(id) from runs where status = 'complete'")
    recorded=$(q "select json_extract(params, '\$.switch_rx_cpu') from runs where id = $run")
    lost=$(run_summary "$run" lost_packets)
    rx=$(q "select mean from summaries where run = $run and metric = 'rx_pps'")
    ports=$(rps_of_ports) || { fail "$mode: no switch of the instance found"; continue; }
    data=$(echo "$ports" | grep -E -- '-eth1 ' || true)
    [ -n "$data" ] || { fail "$mode: no data port in the switch's namespace: $ports"; continue; }
    steered=$(echo "$data" | awk '$2 != ""' | wc -l)
    total=$(echo "$data" | wc -l)
    if [ "$mode" = on ]; then
        [ "$recorded" = 1 ] && ok "on: the run recorded switch_rx_cpu 1" ||
            fail "on: switch_rx_cpu '$recorded', expected 1"
        vnfs=$(echo "$data" | grep '^v[01]-' | awk '$2 == 2' | wc -l)
        [ "$vnfs" = 2 ] && ok "on: both VNFs' data ports receive on CPU 1 (rps_cpus 2)" ||
            fail "on: VNFs' data ports steered to CPU 1: $vnfs of 2: $data"
        [ "$steered" = 2 ] && ok "on: no other data port steered ($total)" ||
            fail "on: $steered of $total data ports steered: $data"
        echo "$ports" | grep -E '^mgmt|^data|^ovs-netdev' | awk '$2 != "" { exit 1 }' &&
            ok "on: the bridges' own interfaces untouched" ||
            fail "on: a bridge's interface was steered: $ports"
        [ "$(cat "$backlog")" = 16384 ] && ok "on: receive backlog 16384 while it lives" ||
            fail "on: receive backlog $(cat "$backlog"), expected 16384"
    else
        [ -z "$recorded" ] && ok "default: no switch_rx_cpu recorded" ||
            fail "default: switch_rx_cpu '$recorded' recorded"
        [ "$steered" = 0 ] && ok "default: no data port steered ($total)" ||
            fail "default: $steered of $total data ports steered"
    fi
    [ "$lost" = 0.0 ] || [ "$lost" = 0 ] && ok "$mode: $rx datagrams/s through, none lost" ||
        fail "$mode: lost $lost datagrams"
    bin/sfclab -i "$inst" down >/dev/null 2>&1
    [ "$(cat "$backlog")" = "$backlog_before" ] && ok "$mode: receive backlog $backlog_before after down" ||
        fail "$mode: receive backlog $(cat "$backlog") after down, was $backlog_before"
done
[ "$failures" = 0 ]
