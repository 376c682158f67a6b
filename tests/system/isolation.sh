#!/usr/bin/env bash
# System test of isolation (issue 11): every attack an intruder in a guest was found to have,
# replayed from an attacker guest and from a VNF guest, must now fail; the agents' guards
# (keyed RPC, bounded input, waits that block nobody, connection cap, role slots, restart) are
# exercised from the orchestrator's own namespace, where only the orchestrator is.
# Exit 0 pass, 77 skip (not root, no Open vSwitch or python3), anything else fail.
set -u

sfclab=${SFCLAB:-$PWD/bin/sfclab}
sfcd=$PWD/bin/sfcd
top=$PWD
helper=$top/tests/system/isolation-helper.py
state_dir=/run/sfclab
. "$top/tests/system/infra-lib.sh"
infra_require_root python3 ovs-vsctl nsenter

inst=sfct-iso-$$
tmp=$(mktemp -d /tmp/sfct-iso-XXXXXX)
cleanup() {
    [ -n "${idle_pid:-}" ] && kill "$idle_pid" 2>/dev/null
    "$sfclab" -i "$inst" down >/dev/null 2>&1 || "$sfclab" -i "$inst" clean >/dev/null 2>&1
    "$sfclab" -i "$inst-r" clean >/dev/null 2>&1
    rm -f /tmp/sfct-iso-pwned-$$ /root/sfct-iso-pwned-$$
    rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sl() { "$sfclab" -i "$inst" "$@"; }
# in_guest GUEST ARGS...: the helper inside a guest (which does not see the repository: the
# script goes in on standard input).
in_guest() { local g=$1; shift; sl exec "$g" python3 - "$@" <"$helper"; }
# at_orch ARGS...: the helper in the orchestrator's namespace, where the agents are reachable.
at_orch() { ip netns exec "sfclab-$inst" python3 "$helper" "$@"; }
mgmt_of() {
    python3 -c 'import json,sys; print([g for g in json.load(open(sys.argv[1]))["guests"]
        if g["name"] == sys.argv[2]][0]["mgmt"])' "$state_dir/$inst/instance.json" "$1"
}

cat >"$tmp/topo.yaml" <<'YAML'
name: isolation
provider: netns
bridges:
  - name: data
guests:
  - {name: client, cpus: 1, memory: 128M}
  - {name: vnf, cpus: 1, memory: 128M}
  - {name: victim, cpus: 1, memory: 128M}
  - {name: attacker, cpus: 1, memory: 128M}
links:
  - {guest: client, bridge: data, address: 10.0.0.1/24}
  - {guest: vnf, bridge: data, address: 10.0.0.2/24}
  - {guest: victim, bridge: data, address: 10.0.0.3/24}
  - {guest: attacker, bridge: data, address: 10.0.0.66/24}
YAML

root_links >"$tmp/links-before"
must sl up "$tmp/topo.yaml" >/dev/null
save_manifest "$inst" "$tmp/manifest"
victim=$(mgmt_of victim)
key=$state_dir/$inst/key
agent="$victim:7070"
[ -n "$victim" ] || { echo "FAIL: no management address for the victim"; exit 1; }
# The VNF guest runs a VNF, as in a chain.
must sl agent vnf start_role '{"role": "vnf", "args": ["--fn", "fwd", "--iface", "eth1"]}' >/dev/null

for g in attacker vnf; do
    # --- RPC to another guest's agent, on the management and on the data network
    r=$(in_guest "$g" connect "$agent" 2)
    [ "$r" != connected ] && ok "$g: victim's agent on the management network: $r" ||
        fail "$g reached the victim's agent over the management network"
    r=$(in_guest "$g" connect 10.0.0.3:7070 2)
    [ "$r" != connected ] && ok "$g: victim's agent on the data network: $r" ||
        fail "$g reached the victim's agent over the data network"
    # The management address through the data network (the guest may route as it likes).
    sl exec "$g" ip route add "$victim/32" dev eth1 2>/dev/null
    r=$(in_guest "$g" connect "$agent" 2)
    [ "$r" != connected ] && ok "$g: victim's management address routed over data: $r" ||
        fail "$g reached the victim's agent by routing its management address over data"
    sl exec "$g" ip route del "$victim/32" dev eth1 2>/dev/null
    sl exec "$g" ping -c 1 -W 1 "$victim" >/dev/null 2>&1 &&
        fail "$g pings the victim on the management network" ||
        ok "$g: no other guest on the management network"

    # --- writing a host file
    sl exec "$g" sh -c "echo pwned >/root/sfct-iso-pwned-$$" 2>/dev/null
    sl exec "$g" "$sfcd" echo --port 9 --stats "/root/sfct-iso-pwned-$$" >/dev/null 2>&1 &
    sleep 0.5; kill $! 2>/dev/null; wait $! 2>/dev/null
    [ ! -e "/root/sfct-iso-pwned-$$" ] && ok "$g: no host file written under /root" ||
        fail "$g wrote /root/sfct-iso-pwned-$$"
    sl exec "$g" sh -c "echo x >>$sfcd" 2>/dev/null &&
        fail "$g wrote into the sfcd binary" || ok "$g: sfcd is read-only"

    # --- reading /etc/shadow or the results
    r=$(sl exec "$g" cat /etc/shadow 2>/dev/null)
    grep -q '^root:' <<<"$r" && fail "$g read /etc/shadow" || ok "$g: /etc/shadow is empty"
    sl exec "$g" test -e "$top/results" && fail "$g sees results/" || ok "$g: no results/"
    sl exec "$g" test -e "$top/Makefile" && fail "$g sees the repository" ||
        ok "$g: no repository"
    r=$(sl exec "$g" ls "$state_dir/$inst/guests" 2>&1)
    [ "$r" = "$g" ] && ok "$g: sees its own agent directory only" ||
        fail "$g sees in $state_dir/$inst/guests: $r"

    # --- any OVS socket
    sl exec "$g" ovs-vsctl --timeout=2 --db="unix:$state_dir/$inst/ovs/db.sock" show \
        >/dev/null 2>&1 && fail "$g used the instance's OVSDB" || ok "$g: no OVSDB socket"
    sl exec "$g" ovs-ofctl -t 2 show "unix:$state_dir/$inst/ovs/data.mgmt" >/dev/null 2>&1 &&
        fail "$g used the instance's OpenFlow socket" || ok "$g: no OpenFlow socket"
    sl exec "$g" test -e /run/openvswitch && fail "$g sees the system's OVS" ||
        ok "$g: no system OVS either"

    # --- the orchestrator's namespace, or any other
    sl exec "$g" nsenter --net="/run/netns/sfclab-$inst" true 2>/dev/null &&
        fail "$g entered the orchestrator's namespace" || ok "$g: cannot enter sfclab-$inst"
    sl exec "$g" unshare -n true 2>/dev/null && fail "$g made a namespace" ||
        ok "$g: cannot unshare"
    sl exec "$g" mount -t tmpfs none /tmp 2>/dev/null && fail "$g mounted" ||
        ok "$g: cannot mount"
    r=$(in_guest "$g" keyctl)
    [ "$r" = EPERM ] && ok "$g: no keyrings (keyctl: $r)" || fail "$g: keyctl: $r"
    caps=$(sl exec "$g" sed -n 's/^CapBnd:\t//p' /proc/self/status)
    [ -n "$caps" ] && [ $(( 0x$caps & (1 << 21) )) = 0 ] && ok "$g: no CAP_SYS_ADMIN ($caps)" ||
        fail "$g: bounding set $caps"
done

# --- a guest role's option that names a host path, through the orchestrator's own call
r=$(sl agent victim start_role "{\"role\": \"echo\", \"args\": [\"--port\", \"9\", \"--stats\",
    \"/tmp/sfct-iso-pwned-$$\"]}" 2>&1)
grep -q "outside the guest's directory" <<<"$r" && [ ! -e "/tmp/sfct-iso-pwned-$$" ] &&
    ok "start_role --stats /tmp/...: refused" || fail "start_role with a host path: $r"

for arg in '"--out=/tmp/x"' '"--sta", "/tmp/x"' '"--trace", "/run/sfclab/'"$inst"'/guests/victim/../vnf/x"'; do
    r=$(sl agent victim start_role "{\"role\": \"echo\", \"args\": [\"--port\", \"9\", $arg]}" 2>&1)
    grep -q "outside the guest's directory" <<<"$r" && ok "start_role $arg: refused" ||
        fail "start_role $arg: $r"
done

# --- `run` on an instance that is up: refused before any run row is written
"$sfclab" -i "$inst" --db "$tmp/run.db" run "$top/experiments/baseline-dns.yaml" --quick \
    >"$tmp/run.out" 2>&1 && fail "run on an instance that is up was not refused"
rows=$(python3 -c 'import sqlite3,sys
try:
    print(sqlite3.connect(sys.argv[1]).execute("select count(*) from runs").fetchone()[0])
except Exception:
    print(0)' "$tmp/run.db")
grep -q "already up" "$tmp/run.out" && [ "$rows" = 0 ] &&
    ok "run on an instance that is up: refused, no run row" ||
    fail "run on an up instance: $rows row(s): $(tail -2 "$tmp/run.out")"

# --- the key: nothing without it, nothing with another guest's, no replay
r=$(at_orch unsigned "$agent" start_role '{"role": "echo", "args": ["--port", "9"]}')
[ "$r" = dropped ] && ok "unsigned start_role dropped" || fail "unsigned start_role $r"
r=$(at_orch wrong-key "$agent" "$key" attacker)
[ "$r" = dropped ] && ok "the attacker's key does not open the victim's agent" ||
    fail "another guest's key: $r"
r=$(at_orch replay "$agent" "$key" victim)
[ "$r" = "answered dropped dropped" ] && ok "a replayed request is dropped ($r)" ||
    fail "replay: $r"

# --- memory exhaustion: six connections of 63 MiB without a newline
r=$(at_orch flood "$agent" 6 63)
p=$(at_orch ping "$agent" "$key" victim)
grep -q '"restarts": 0' <<<"$p" && grep -q '"refused_memory": [1-9]' <<<"$p" &&
    ok "memory flood ($r MiB sent) refused; the agent lives: $p" || fail "after the flood: $p"

# --- a stalled agent: an endless wait, a timeout over the cap, a caller that never reads
r=$(at_orch stall "$agent" "$key" victim)
set -- $r
[ "${1:-}" = capped ] && [ "${2:-}" = answered ] &&
    ok "waits block no other caller, timeouts are capped ($r)" || fail "stall: $r"

# --- 1000 idle connections: the orchestrator still gets through, and status says so
at_orch idle "$agent" 1000 4 >/dev/null &
idle_pid=$!
sleep 2
r=$(sl agent victim ping 2>&1)
grep -q '"refused_conns": [1-9]' <<<"$r" && ok "1000 idle connections: the agent still answers" ||
    fail "idle flood: $r"
kill "$idle_pid" 2>/dev/null; wait "$idle_pid" 2>/dev/null; idle_pid=

# --- a full role table: 300 failed starts, then a good one
r=$(at_orch fill-roles "$agent" "$key" victim 300)
[ "$r" = "300 started" ] && ok "300 failed start_role leave room for the next ($r)" ||
    fail "role table: $r"

# --- a dead agent comes back, and status shows it
pid=$(sl agent victim ping | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
sl exec victim kill -9 "$pid"
for ((k = 0; k < 50; k++)); do
    st=$(sl status 2>/dev/null | awk '$1 == "victim"')
    grep -q "restart" <<<"$st" && break
    sleep 0.1
done
grep -q "up (1 restart)" <<<"$st" && ok "killed agent restarted, status: $st" ||
    fail "after killing the agent, status: $st"

# --- an agent killed during a run: restarted, an event of the run, and the run completes
run_inst=$inst-r
sed -e 's/count: 10000/count: 400/' -e 's/rate: 0/rate: 80/' -e '/^quick:/,/^plots:/{/^quick:/d;/workload:/d}' \
    "$top/experiments/baseline-dns.yaml" >"$tmp/slow-dns.yaml"
"$sfclab" -i "$run_inst" --db "$tmp/ev.db" run "$tmp/slow-dns.yaml" --no-pin >"$tmp/ev.out" 2>&1 &
run_pid=$!
for ((k = 0; k < 200; k++)); do
    [ -e "$state_dir/$run_inst/deploy.json" ] && break
    sleep 0.05
done
sleep 0.5
apid=$("$sfclab" -i "$run_inst" agent sff ping 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
[ -n "$apid" ] && "$sfclab" -i "$run_inst" exec sff kill -9 "$apid"
wait "$run_pid"; rc=$?
ev=$(python3 -c 'import sqlite3,sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("select count(*) from events where kind = ? and target = ?",
                 ("agent-restarted", "sff")).fetchone()[0],
      db.execute("select status from runs").fetchone()[0])' "$tmp/ev.db" 2>&1)
[ -n "$apid" ] && [ "$rc" = 0 ] && [ "$ev" = "1 complete" ] &&
    ok "the sff's agent killed mid-run: restarted, one agent-restarted event, run complete" ||
    fail "agent killed mid-run: pid '$apid', run exit $rc, events/status '$ev': $(tail -3 "$tmp/ev.out")"
"$sfclab" -i "$run_inst" clean >/dev/null 2>&1

# --- a Ctrl-C after the workload: the run is interrupted, not complete. The runner is stopped
# (SIGSTOP) as soon as the workload's end is in the history; if it had already stored the run
# by then the round says nothing, and another is tried.
verdict=
for try in 1 2 3; do
    rm -f "$tmp/int.db"
    "$sfclab" -i "$run_inst" --db "$tmp/int.db" run "$tmp/slow-dns.yaml" --no-pin \
        >"$tmp/int.out" 2>&1 &
    run_pid=$!
    at_stop=$(python3 "$helper" stop-after-workload "$tmp/int.db" "$run_pid")
    kill -INT "$run_pid"; kill -CONT "$run_pid"
    wait "$run_pid"; rc=$?
    final=$(python3 -c 'import sqlite3,sys
print(sqlite3.connect(sys.argv[1]).execute("select status from runs").fetchone()[0])' "$tmp/int.db")
    "$sfclab" -i "$run_inst" clean >/dev/null 2>&1
    if [ "$at_stop" = running ]; then
        verdict="$rc $final"
        break
    fi
done
[ "$verdict" != "${verdict#[1-9]}" ] && [ "${verdict#* }" = interrupted ] &&
    ok "Ctrl-C after the workload: run interrupted, exit ${verdict%% *}" ||
    fail "Ctrl-C after the workload: '$verdict' (at stop: $at_stop, $(tail -2 "$tmp/int.out"))"

# --- down leaves nothing
if sl down >/dev/null; then
    check_nothing_left "$inst" "$tmp/manifest" "$tmp/links-before" &&
        ok "down left nothing" || fail "down left something"
else
    fail "down failed"
fi
echo "isolation: $failures failure(s)"
[ "$failures" = 0 ]
