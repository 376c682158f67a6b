#!/usr/bin/env bash
# Scheme ftvnf on real guests through `sfclab run` (issue 15): a stateful nat (random external
# ports, flow timestamps: both through the determinant interface) under numbered UDP echo at
# 300/s, whose master is killed by the fault plan 2 s in. The scheme's controller sees the
# death through the master's pidfd and tells the manager; the slave replays M\S with the
# master's determinants and takes over. From the stored results: nothing lost and nothing
# duplicated end to end (the echoes come back through the nat too), the crash suspected and
# recovered with a recovery time stored; from the guests: the nat mappings the master had made
# before its death are the new master's, port for port (no flow was reset), and the slave said
# it took over. Timings are printed, never asserted (the machine is shared).
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init fv
dir=/run/sfclab/$inst

cat >"$tmp/nat.yaml" <<'EOY'
experiment: ftvnf-nat-crash
provider: netns
scheme: ftvnf
params: {manager_period: 5ms}
chain:
  vnfs:
    - fn: nat
      params: {external: "10.0.0.200", alloc: random, timeout: 60s}
  rules: ["udp"]
workload: {kind: udp, size: 256, rate: 300, duration: 5s, timeout: 10s}
repetitions: 1
seed: 1
faults:
  - {kind: crash, target: "vnf[0].master", mode: kill, at: 2s}
EOY

# mappings SOCK: the nat's outbound mappings in the role's exported state, one "key=port" a
# line (keys "No" + proto + address + port; values the external port).
mappings() {
    python3 - "$1" <<'PY'
import base64, json, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "export_state"}).encode() + b"\n")
b = base64.b64decode(json.loads(s.makefile().readline())["result"]["state"])
assert b[:4] == b"SFST"
n, o = struct.unpack(">I", b[24:28])[0], 28
for _ in range(n):
    op, _, kl, vl = struct.unpack(">BBHI", b[o:o + 8])
    k, v = b[o + 8:o + 8 + kl], b[o + 8 + kl:o + 8 + kl + vl]
    o += 8 + kl + vl
    if op == 1 and k[:2] == b"No":
        print("%s=%d" % (k.hex(), int.from_bytes(v[:2], "big")))
PY
}
sock() { ls -t "$dir/guests/$1"/role-*.sock 2>/dev/null | head -1; }

run_experiment "$tmp/run.log" "$tmp/nat.yaml" --keep &
runner=$!
# The master's mappings while it lives (the workload starts after the deploy; the crash is 2 s
# into it): the last look before it dies is what the slave must hold.
: >"$tmp/master.map"
for ((k = 0; k < 600; k++)); do
    m=$(sock v0r0)
    if [ -n "$m" ] && out=$(mappings "$m" 2>/dev/null) && [ -n "$out" ]; then
        echo "$out" >"$tmp/master.map"
    elif [ -s "$tmp/master.map" ]; then
        break               # It answered before and answers no more: it is dead.
    fi
    sleep 0.1
done
wait $runner || { fail "run: $(tail -5 "$tmp/run.log")"; exit 1; }
run=$(q "select max(id) from runs where experiment='ftvnf-nat-crash' and status='complete'")
[ -n "$run" ] || { fail "no complete run"; exit 1; }
grep -E "numbered datagrams|recovery of" "$tmp/run.log" | sed 's/^ */  /'

lost=$(q "select cast(mean as integer) from summaries where run=$run and metric='lost_packets'")
dup=$(q "select cast(mean as integer) from summaries where run=$run and metric='duplicate_packets'")
sent=$(q "select count(*) from events where run=$run and kind='fault-injected' and target='vnf[0].master'")
[ -n "$lost" ] && [ "$lost" = 0 ] && [ "$dup" = 0 ] \
    && ok "master killed under 300/s numbered UDP: lost_packets=0, duplicate_packets=0 (stored summaries)" \
    || fail "lost_packets='$lost', duplicate_packets='$dup'"
sus=$(q "select count(*) from events where run=$run and kind='suspected' and target='vnf[0].master'")
rec=$(q "select count(*) from events where run=$run and kind='recovered' and target='vnf[0].master'")
total=$(run_summary "$run" recovery_total_ms)
repair=$(run_summary "$run" recovery_repair_ms)
[ "$sent" = 1 ] && [ "$sus" = 1 ] && [ "$rec" = 1 ] && [ -n "$total" ] && [ -n "$repair" ] \
    && ok "the crash was suspected and recovered; recovery stored: ${total} ms from the kill, ${repair} ms from detection to the slave's takeover" \
    || fail "events: $sent injected, $sus suspected, $rec recovered; recovery_total_ms '$total'"
q "select detail from events where run=$run and kind='recovered' and target='vnf[0].master'" | sed 's/^/  /'

# No flow reset: every mapping the master made is the new master's, with the same port.
slave=$(sock v0r1)
mappings "$slave" >"$tmp/slave.map" 2>/dev/null
if [ -s "$tmp/master.map" ] && [ -s "$tmp/slave.map" ]; then
    missing=$(grep -vxFf "$tmp/slave.map" "$tmp/master.map" | wc -l)
    [ "$missing" = 0 ] \
        && ok "the new master holds the dead master's $(wc -l <"$tmp/master.map") nat mapping(s), external port for port (no flow reset)" \
        || fail "$missing mapping(s) of the master differ in the new master: master $(tr '\n' ' ' <"$tmp/master.map"), slave $(tr '\n' ' ' <"$tmp/slave.map")"
else
    fail "no mappings to compare (master '$(cat "$tmp/master.map")', slave '$(cat "$tmp/slave.map" 2>/dev/null)')"
fi
grep -q "took over as master" "$dir"/guests/v0r1/role-*.log \
    && ok "the slave says it caught up and took over" || fail "the slave's log says no takeover"

bin/sfclab -i "$inst" down >/dev/null 2>&1 && ok "down" || fail "down after --keep"
echo "run-ftvnf: $failures failure(s)"
[ "$failures" -eq 0 ]
