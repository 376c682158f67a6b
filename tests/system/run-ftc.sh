#!/usr/bin/env bash
# Scheme ftc (f=1) on real guests through `sfclab run`: Ch-Rec (Firewall -> Monitor ->
# SimpleNAT) under a 256-byte UDP stream, the Monitor's guest destroyed in the middle of it
# (experiments/ftc-c13.yaml with only its vnf[1] fault). The scheme's controller spawns a new
# guest at the failed position and starts the next incarnation there, which fetches the
# Monitor's state from its successor and the firewall's from its predecessor. After the
# stream, the recovered Monitor's counters must be exactly those a fault-free Monitor has over
# the packets the buffer released (every released packet counted,
# once; nothing counted that was not released), its copy on the successor (the group's tail)
# must be identical, and a fault-free run of the same chain must show the same relation.
# The verdicts come from the roles' own control sockets and the events stored in SQLite.
# The same with the Monitor's process killed (mode kill): the next incarnation in the same guest.
# The same with the Monitor's head on 2 threads (resiliency: {threads: 2}), its process killed.
# The NAT's guest destroyed (SimpleNAT): the flow keeps its external port, head and tail alike.
# Then simultaneous failures: f=2, the firewall's and the Monitor's guests destroyed at once.
# Last, a fwd -> dns chain under ftc: every query answered (replies released on the reverse path).
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init ftc
run() { run_experiment "$@"; }
dir=/run/sfclab/$inst
# The newest role socket of a VNF's guest: a replacement is the next role id, in the same guest
# or in a new guest NAME-N in its place.
sock() { ls -t "$dir/guests/$1"/role-*.sock "$dir/guests/$1"-*/role-*.sock 2>/dev/null | head -1; }
js() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# One run (its yaml, its name): leaves the instance up; prints nothing, sets globals.
check_run() {
    local yaml=$1 name=$2 faulty=$3
    run "$tmp/$name.log" "$yaml" --quick --keep || { fail "$name run: $(tail -5 "$tmp/$name.log")"; return; }
    # The stream has ended; the forwarder's propagating packets release what the buffer holds.
    sleep 0.5
    local mon tail_state released stats
    mon=$(python3 tests/system/ftc-state.py "$(sock v1)" ftc_state) || { fail "$name: no ftc_state from vnf[1]"; return; }
    tail_state=$(python3 tests/system/ftc-state.py "$(sock v2)" ftc_state) || { fail "$name: no ftc_state from vnf[2]"; return; }
    stats=$(python3 tests/system/ftc-state.py "$(sock v2)" stats)
    released=$(echo "$stats" | js 'd.get("ftc_released", 0)')
    local head_g tail_g packets bytes flows epoch
    head_g=$(echo "$mon" | js '[g for g in d["groups"] if g["group"] == 1][0]["digest"]')
    tail_g=$(echo "$tail_state" | js '[g for g in d["groups"] if g["group"] == 1][0]["digest"]')
    packets=$(echo "$mon" | js '[g for g in d["groups"] if g["group"] == 1][0]["packets"]')
    bytes=$(echo "$mon" | js '[g for g in d["groups"] if g["group"] == 1][0]["bytes"]')
    flows=$(echo "$mon" | js 'sum(f[0] for f in [g for g in d["groups"] if g["group"] == 1][0]["flows"])')
    epoch=$(echo "$mon" | js '[g for g in d["groups"] if g["group"] == 1][0]["epoch"]')
    [ "$(echo "$mon" | js 'd["ready"]')" = True ] && ok "$name: vnf[1] holds all its groups" \
        || fail "$name: vnf[1] not ready: $mon"
    if [ "$faulty" = 1 ]; then
        [ "$epoch" -ge 1 ] && ok "$name: the Monitor's group is in epoch $epoch (a new head took over)" \
            || fail "$name: the Monitor's group is still in epoch $epoch: no recovery happened"
    fi
    [ -n "$released" ] && [ "$released" -gt 1000 ] && ok "$name: the buffer released $released packets" \
        || fail "$name: the buffer released '$released' packets"
    [ "$packets" = "$released" ] && [ "$flows" = "$released" ] \
        && ok "$name: the Monitor counted exactly the $released released packets (total and per flow)" \
        || fail "$name: the Monitor counted $packets (flows $flows), the buffer released $released"
    # Every packet is one 256-byte datagram: bytes are released x one frame's length.
    [ "$released" -gt 0 ] && [ $((bytes % released)) = 0 ] \
        && ok "$name: $bytes bytes = $released x $((bytes / released))" \
        || fail "$name: $bytes bytes over $released packets"
    [ -n "$head_g" ] && [ "$head_g" = "$tail_g" ] \
        && ok "$name: the Monitor's state at its head and at its tail (vnf[2]) are identical" \
        || fail "$name: digest at the head $head_g, at the tail $tail_g"
    eval "${name}_frame=\$((bytes / (released ? released : 1)))"
    # The buffer's piggyback messages and the front's commits take the veth between the first
    # and the last VNF's guests (the scheme's link: direct), both ways; after a recovery, the
    # newest incarnation's (one in a new guest got a new link).
    local front link_in link_out
    front=$(python3 tests/system/ftc-state.py "$(sock v0)" stats)
    for end in front stats; do
        link_in=$(echo "${!end}" | js 'd.get("ftc_link_in", 0)')
        link_out=$(echo "${!end}" | js 'd.get("ftc_link_out", 0)')
        [ "${link_in:-0}" -gt 0 ] && [ "${link_out:-0}" -gt 0 ] \
            && ok "$name: the $([ $end = front ] && echo first || echo last) VNF's peer messages on the link: $link_out out, $link_in in" \
            || fail "$name: $end: link messages out '$link_out', in '$link_in'"
    done
    if [ -n "${check_run_hook:-}" ]; then
        eval "${name}_hook_out=\$($check_run_hook)"
    fi
    bin/sfclab -i "$inst" down >/dev/null 2>&1 || fail "$name: down after --keep"
}

# --- the Monitor killed mid-stream
sed -e 's/^experiment: ftc-c13/experiment: ftc-c13-monitor/' \
    -e '/target: "vnf\[0\]"/d' -e '/target: "vnf\[2\]"/d' experiments/ftc-c13.yaml >"$tmp/faulty.yaml"
grep -q 'target: "vnf\[1\]"' "$tmp/faulty.yaml" || fail "no vnf[1] fault in the derived file"
check_run "$tmp/faulty.yaml" faulty 1
run_id=$(q "select max(id) from runs where experiment='ftc-c13-monitor'")
if [ -n "$run_id" ]; then
    for k in fault-injected suspected initialized recovered; do
        n=$(q "select count(*) from events where run=$run_id and kind='$k' and target='vnf[1]'")
        [ "$n" -ge 1 ] && ok "event $k for vnf[1]" || fail "no $k event for vnf[1] in run $run_id"
    done
    ms=$(q "select round(value, 1) from samples_view where run=$run_id and metric='recovery_total_ms' and (labels is null or labels='')")
    [ -n "$ms" ] && ok "recovery of the Monitor took $ms ms (fault to every group fetched)" \
        || fail "no recovery_total_ms sample"
    # Into a new guest: the old one was destroyed, its replacement v1-1 took its place.
    new=$(q "select detail from events where run=$run_id and kind='initialized' and target='vnf[1]' and detail like '%new guest v1-1%'")
    [ -n "$new" ] && ok "vnf[1] recovered into a new guest: $new" \
        || fail "no new guest for vnf[1]: $(q "select kind, detail from events where run=$run_id and target='vnf[1]'")"
    q "select detail from events where run=$run_id and kind='recovered' and target='vnf[1]'" | sed 's/^/    /'
fi

# --- the Monitor's process killed mid-stream (mode kill: its guest stays): the controller sees
# its role gone through the guest's agent and starts the next incarnation in the same guest,
# which fetches the groups' state as a new guest's would; the same exact-state checks.
sed -e 's/^experiment: ftc-c13/experiment: ftc-c13-kill/' -e 's/mode: destroy/mode: kill/' \
    -e '/target: "vnf\[0\]"/d' -e '/target: "vnf\[2\]"/d' experiments/ftc-c13.yaml >"$tmp/kill.yaml"
grep -q 'target: "vnf\[1\]", mode: kill' "$tmp/kill.yaml" || fail "no vnf[1] kill in the derived file"
check_run "$tmp/kill.yaml" kill 1
run_id=$(q "select max(id) from runs where experiment='ftc-c13-kill'")
if [ -n "$run_id" ]; then
    for k in fault-injected suspected initialized recovered; do
        n=$(q "select count(*) from events where run=$run_id and kind='$k' and target='vnf[1]'")
        [ "$n" -ge 1 ] && ok "kill: event $k for vnf[1]" || fail "kill: no $k event for vnf[1] in run $run_id"
    done
    same=$(q "select detail from events where run=$run_id and kind='initialized' and target='vnf[1]' and detail like '%started on v1,%'")
    newg=$(q "select count(*) from events where run=$run_id and target='vnf[1]' and detail like '%new guest%'")
    [ -n "$same" ] && [ "$newg" = 0 ] && ok "kill: vnf[1] restarted in its own guest: $same" \
        || fail "kill: vnf[1] not restarted in place: $(q "select kind, detail from events where run=$run_id and target='vnf[1]'")"
    ms=$(q "select round(value, 1) from samples_view where run=$run_id and metric='recovery_total_ms' and (labels is null or labels='')")
    [ -n "$ms" ] && ok "kill: recovery of the Monitor took $ms ms" || fail "kill: no recovery_total_ms sample"
fi

# --- the Monitor's head on 2 threads (its packet transactions in parallel over 8 partitions,
# strict 2PL with wound-wait), its process killed mid-stream: the recovered Monitor's counters
# are again exactly the released packets', and its head really ran threaded transactions.
sed -e 's/^experiment: ftc-c13/experiment: ftc-c13-threads/' -e 's/mode: destroy/mode: kill/' \
    -e 's/^params: {f: 1}/params: {f: 1, partitions: 8}/' \
    -e 's/^    - fn: monitor$/    - fn: monitor\n      resiliency: {threads: 2}/' \
    -e '/target: "vnf\[0\]"/d' -e '/target: "vnf\[2\]"/d' experiments/ftc-c13.yaml >"$tmp/threads.yaml"
grep -q 'threads: 2' "$tmp/threads.yaml" || fail "no threads in the derived file"
# Kept up by check_run's --keep until it has read the state: read the head's counters there.
threads_txs() {
    local st
    st=$(python3 tests/system/ftc-state.py "$(sock v1)" stats)
    echo "$st" | js 'd.get("ftc_txs", 0), d.get("ftc_tx_aborts", 0)'
}
bin/sfclab check "$tmp/threads.yaml" >/dev/null || fail "the threads file does not check: $(bin/sfclab check "$tmp/threads.yaml" 2>&1)"
check_run_hook=threads_txs
check_run "$tmp/threads.yaml" threads 1
check_run_hook=
read -r txs aborts <<<"$(echo "${threads_hook_out:-0 0}" | tr -d '(),')"
[ "${txs:-0}" -gt 1000 ] && ok "threads: the Monitor's recovered head ran $txs transactions on 2 threads ($aborts tries wounded)" \
    || fail "threads: the Monitor's head ran '${txs:-}' threaded transactions"

# --- the NAT's guest destroyed mid-stream (SimpleNAT, the last VNF, with the buffer): its
# replacement fetches the NAT's group from its successor (vnf[0], the ring wrapping around).
# Before the fault a second flow passes (a few datagrams from the client's port 40999): its
# mapping exists only in the state the replacement fetched (a NAT that lost its state would map
# the stream again, to the first port, and know nothing of the other flow). After it: the
# recovered head, in a new epoch, and its tail hold the same two mappings, both ways, on the
# first two ports, the cursor moved twice (no port taken again), and the stream kept flowing
# through the recovered NAT.
sed -e 's/^experiment: ftc-c13/experiment: ftc-c13-nat/' \
    -e '/target: "vnf\[0\]"/d' -e '/target: "vnf\[1\]"/d' experiments/ftc-c13.yaml >"$tmp/nat.yaml"
grep -q 'target: "vnf\[2\]"' "$tmp/nat.yaml" || fail "no vnf[2] fault in the derived file"
# The second flow, once this run's NAT role is up (the fault comes 4.5 s into the stream).
before=$(sock v2)
(
    for i in $(seq 300); do [ -n "$(sock v2)" ] && [ "$(sock v2)" != "$before" ] && break; sleep 0.1; done
    sleep 1
    # Its own neighbour entry for the service address (deploy.c's service MAC with a
    # classifier): the deployment's was gone by then in a try of this test.
    bin/sfclab -i "$inst" exec client ip neigh replace 10.0.0.250 lladdr 02:5f:00:00:00:fa \
        dev eth1 nud permanent
    bin/sfclab -i "$inst" exec client python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth1")
s.bind(("", 40999))
for _ in range(5):
    s.sendto(b"x" * 200, ("10.0.0.250", 7))
    time.sleep(0.3)
' >"$tmp/nat-flow2.log" 2>&1
) &
flow2=$!
if run "$tmp/nat.log" "$tmp/nat.yaml" --quick --keep; then
    wait "$flow2"
    sleep 0.5
    nat_head=$(python3 tests/system/ftc-state.py "$(sock v2)" ftc_state) || fail "nat: no ftc_state from vnf[2]"
    nat_tail=$(python3 tests/system/ftc-state.py "$(sock v0)" ftc_state) || fail "nat: no ftc_state from vnf[0]"
    g2() { echo "$1" | js "[g for g in d['groups'] if g['group'] == 2][0]$2"; }
    epoch=$(g2 "$nat_head" '["epoch"]')
    [ "$(echo "$nat_head" | js 'd["ready"]')" = True ] && [ "${epoch:-0}" -ge 1 ] \
        && ok "nat: the NAT's recovered head holds its group in epoch $epoch" \
        || fail "nat: vnf[2] ready '$(echo "$nat_head" | js 'd["ready"]')', epoch '$epoch'"
    out=$(g2 "$nat_head" '["nat"]["out"]')
    back=$(g2 "$nat_head" '["nat"]["in"]')
    cursor=$(g2 "$nat_head" '["nat"]["cursor"]')
    # Mappings out are [proto, ip, port, external port], back [proto, external port, ip, port]:
    # the two flows' (the stream's and port 40999's), each the other's reverse, on the first
    # two ports in the order they came.
    same=$(echo "$nat_head" | js "(lambda n: len(n['out']) == 2 and sorted([o[0], o[3], o[1], o[2]] for o in n['out']) == sorted(n['in']) and sorted(o[3] for o in n['out']) == [1024, 1025] and 40999 in [o[2] for o in n['out']])([g for g in d['groups'] if g['group'] == 2][0]['nat'])")
    [ "$same" = True ] && [ "$cursor" = 2 ] \
        && ok "nat: both flows kept their external ports across the recovery: $out (back: $back, cursor $cursor)" \
        || fail "nat: the recovered NAT maps $out, back $back, cursor $cursor (second flow: $(cat "$tmp/nat-flow2.log"))"
    # The recovered NAT translated the stream's rest: the buffer beside it released it.
    released=$(python3 tests/system/ftc-state.py "$(sock v2)" stats | js 'd.get("ftc_released", 0)')
    [ "${released:-0}" -gt 100 ] && ok "nat: the recovered NAT's chain released $released packets" \
        || fail "nat: the recovered NAT's chain released '$released' packets"
    [ "$(g2 "$nat_head" '["nat"]')" = "$(g2 "$nat_tail" '["nat"]')" ] \
        && [ "$(g2 "$nat_head" '["digest"]')" = "$(g2 "$nat_tail" '["digest"]')" ] \
        && ok "nat: the NAT's state at its recovered head and at its tail (vnf[0]) are identical" \
        || fail "nat: head $(g2 "$nat_head" '["nat"]'), tail $(g2 "$nat_tail" '["nat"]')"
    run_id=$(q "select max(id) from runs where experiment='ftc-c13-nat'")
    n=$(q "select count(*) from events where run=${run_id:-0} and kind='recovered' and target='vnf[2]'")
    [ "${n:-0}" -ge 1 ] && ok "nat: vnf[2] recovered" || fail "nat: no recovery of vnf[2] in run ${run_id:-?}"
    bin/sfclab -i "$inst" down >/dev/null 2>&1 || fail "nat: down after --keep"
else
    wait "$flow2"
    fail "nat run: $(tail -5 "$tmp/nat.log")"
fi

# --- the same chain and stream without a fault
sed -e 's/^experiment: ftc-c13/experiment: ftc-c13-nofault/' -e '/kind: crash/d' \
    -e '/^faults:/d' experiments/ftc-c13.yaml | awk '/^quick:/{q=1} q && /^  faults:/{skip=1; next} skip && /^    -/{next} {skip=0; print}' \
    >"$tmp/clean.yaml"
bin/sfclab check "$tmp/clean.yaml" >/dev/null || fail "the fault-free file does not check: $(bin/sfclab check "$tmp/clean.yaml" 2>&1)"
check_run "$tmp/clean.yaml" clean 0
[ "${faulty_frame:-x}" = "${clean_frame:-y}" ] \
    && ok "the recovered Monitor counts the same bytes per packet as the fault-free one ($clean_frame)" \
    || fail "bytes per packet: faulty ${faulty_frame:-?}, fault-free ${clean_frame:-?}"

# --- simultaneous failures (f=2): the firewall's and the Monitor's guests destroyed at once;
# both come back in new guests, and the Monitor's state is again exactly what was released.
cat >"$tmp/simul.yaml" <<'YAML'
experiment: ftc-simultaneous
provider: netns
scheme: ftc
params: {f: 2}
resources: {cpus: 1, memory: 256M}
chain:
  vnfs:
    - fn: firewall
      params: {rule: ["allow,proto=udp"], default: deny}
    - fn: monitor
      params: {sharing: 1}
    - fn: simplenat
      params: {external: "10.0.0.200"}
  rules: ["udp"]
workload: {kind: udp, size: 256, duration: 8s, rate: 1000}
faults:
  - {kind: crash, target: "vnf[0]", mode: destroy, at: 1500ms}
  - {kind: crash, target: "vnf[1]", mode: destroy, at: 1500ms}
warmup: 0
repetitions: 1
seed: 1
YAML
check_run "$tmp/simul.yaml" simul 1
run_id=$(q "select max(id) from runs where experiment='ftc-simultaneous'")
for t in "vnf[0]" "vnf[1]"; do
    n=$(q "select count(*) from events where run=${run_id:-0} and kind='recovered' and target='$t'")
    [ "${n:-0}" -ge 1 ] && ok "simul: $t recovered into a new guest" \
        || fail "simul: no recovery of $t: $(q "select kind, detail from events where run=${run_id:-0} and target='$t'")"
done

# --- overload (issue 14): a Ch-2 offered more than its middleboxes' 0.04 CPU each can take, the
# SFF's admission off. The first VNF's guest leaves what the forwarder's window has no room for
# in its data socket's queue, whose overflow the kernel drops (as under none), rather than read
# every packet for the forwarder to shed (each a receive and a parse on the guest's quota).
cat >"$tmp/overload.yaml" <<'YAML'
experiment: ftc-overload
provider: netns
scheme: ftc
params: {f: 1, sff_window: 0}
resources: {cpus: 1, vnf: {cpus: 0.04}, memory: 256M}
chain:
  length: 2
  fill: {fn: monitor, params: {sharing: 1}}
  vnfs: []
  rules: ["udp"]
workload: {kind: udp, size: 256, duration: 3s, rate: 24000}
warmup: 0
repetitions: 1
seed: 1
YAML
if run "$tmp/overload.log" "$tmp/overload.yaml" --quick --keep; then
    # The first VNF's counters once the stream is over: its socket has run dry, so its count
    # of the kernel's drops (read when dry) is complete.
    sleep 0.5
    front=$(python3 tests/system/ftc-state.py "$(sock v0)" stats)
    shed=$(echo "$front" | js 'd.get("ftc_fwd_shed", 0)')
    kernel=$(echo "$front" | js 'd.get("rx_dropped", 0)')
    paused=$(echo "$front" | js 'd.get("ftc_fwd_rx_paused", 0)')
    [ "${kernel:-0}" -gt 1000 ] && [ -n "$shed" ] && [ "$((shed * 100))" -lt "$kernel" ] \
        && ok "overload: the kernel dropped the excess in vnf[0]'s queue ($kernel), the forwarder shed $shed (its reading stopped $paused times)" \
        || fail "overload: the forwarder shed '$shed', the kernel dropped '$kernel' in vnf[0]'s queue"
    bin/sfclab -i "$inst" down >/dev/null 2>&1 || fail "overload: down after --keep"
else
    fail "ftc-overload run: $(tail -5 "$tmp/overload.log")"
fi

# --- a chain ending in dns (it answers in place): the buffer releases each reply, once its
# logs are replicated, back on the reverse path to the client (issue 18: it went to the server).
sed -e 's/^experiment: baseline-dns/experiment: ftc-dns/' -e 's/^scheme: none/scheme: ftc/' \
    -e 's/^params: {}/params: {f: 1}/' -e 's/^  length: 1/  length: 2/' \
    -e 's/^    - fn: dns/    - fn: fwd\n    - fn: dns/' -e 's/chain_len: \[1\]/chain_len: [2]/' \
    -e 's/chain_len: 1}/chain_len: 2}/' experiments/baseline-dns.yaml >"$tmp/dns.yaml"
if run "$tmp/dns.log" "$tmp/dns.yaml" --quick; then
    run_id=$(q "select max(id) from runs where experiment='ftc-dns'")
    timeouts=$(run_summary "$run_id" timeout_ratio)
    wrong=$(run_summary "$run_id" wrong_answer_ratio)
    replies=$(q "select max(value) from samples_view where run=$run_id and metric='role_counter' and labels='{\"component\":\"vnf[1]\",\"counter\":\"ftc_replies\"}'")
    [ "$timeouts" = 0.0 ] && [ "$wrong" = 0.0 ] && ok "dns under ftc: every query answered right" \
        || fail "dns under ftc: timeout ratio '$timeouts', wrong answers '$wrong'"
    [ -n "$replies" ] && [ "${replies%.*}" -gt 0 ] && ok "dns under ftc: the buffer released ${replies%.*} replies on the reverse path" \
        || fail "dns under ftc: the buffer released '$replies' replies"
else
    fail "ftc-dns run: $(tail -5 "$tmp/dns.log")"
fi

echo "run-ftc: $failures failure(s)"
[ "$failures" -eq 0 ]
