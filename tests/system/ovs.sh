#!/usr/bin/env bash
# System test of testbed/infra/ovs: a private Open vSwitch inside a namespace of its own, two
# "guest" namespaces wired to one bridge by veths (both ports added in one transaction), flows
# that carry a ping between them and nothing else, then a stop that must leave no process,
# socket or namespace behind; and a second instance undone by its manifest alone, as
# `sfclab clean` does after a crash.
# Exit 0 pass, 77 skip (not root), anything else fail (a missing tool too: make deps installs it).
set -u

tool=${OVS_TOOL:-build/tests/ovs-tool}
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
for p in ovsdb-server ovs-vswitchd ovs-ofctl ovsdb-tool ip ping; do
    command -v "$p" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v "$p" >/dev/null 2>&1 || { echo "FAIL: $p not installed (make deps installs it)"; exit 1; }
done
[ -x "$tool" ] || { echo "FAIL: $tool not built"; exit 1; }

tag=sfct-ovs-$$
hostns=$tag guest_a=$tag-a guest_b=$tag-b
tmp=$(mktemp -d /tmp/sfct-ovs-XXXXXX)
run=$tmp/run
run2=$tmp/run2
man2=$tmp/manifest2
made_ns=()

# Undo registered before each step, newest first; only what this script made, by name or pid.
cleanup() {
    for r in "$run" "$run2"; do
        for f in "$r"/ovs-vswitchd.pid "$r"/ovsdb-server.pid; do
            [ -f "$f" ] || continue
            pid=$(cat "$f")
            case $(cat /proc/"$pid"/comm 2>/dev/null) in
                ovs-vswitchd|ovsdb-server) kill -9 "$pid" 2>/dev/null ;;
            esac
        done
    done
    for ((i = ${#made_ns[@]} - 1; i >= 0; i--)); do
        ip netns del "${made_ns[i]}" 2>/dev/null
    done
    rm -rf -- "$tmp"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
must() { "$@" || { echo "FAIL: $*"; exit 1; }; }
# A process that has exited may stay a zombie until init reaps it: that is not "running".
running() { local st; st=$(awk '/^State:/ {print $2}' /proc/"$1"/status 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }

for ns in "$hostns" "$guest_a" "$guest_b"; do
    made_ns+=("$ns")
    must ip netns add "$ns"
    must ip -n "$ns" link set lo up
done
# The host ends (pa, pb) stay in the instance namespace; the guest ends move out.
must ip -n "$hostns" link add pa type veth peer name ga netns "$guest_a"
must ip -n "$hostns" link add pb type veth peer name gb netns "$guest_b"
must ip -n "$hostns" link set pa up
must ip -n "$hostns" link set pb up
must ip -n "$guest_a" addr add 10.77.0.1/24 dev ga
must ip -n "$guest_b" addr add 10.77.0.2/24 dev gb
must ip -n "$guest_a" link set ga up
must ip -n "$guest_b" link set gb up

# 1. Start, unrecorded, from one process; everything after this goes through ovs_open().
out=$("$tool" start "$run" /run/netns/"$hostns") || { echo "FAIL: start"; exit 1; }
ok "started: $out"
for d in ovsdb-server ovs-vswitchd; do
    pid=$(cat "$run/$d.pid" 2>/dev/null)
    [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$d" ] || fail "$d not running"
    # In the instance's namespace, not ours.
    [ "$(readlink /proc/"$pid"/ns/net)" = "$(ip netns exec "$hostns" readlink /proc/self/ns/net)" ] \
        || fail "$d is not in namespace $hostns"
    # In a session of its own, so `sfclab up` ending does not take it down.
    [ "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid" ] || fail "$d is not a session leader"
done
pids="$(cat "$run/ovsdb-server.pid") $(cat "$run/ovs-vswitchd.pid")"

# 2. A secure bridge, then both guest ports in one transaction.
must "$tool" add-br "$run" data secure
ports=$("$tool" add-ports "$run" data pa pb) || { echo "FAIL: add-ports"; exit 1; }
read -r pa pb <<<"$ports"
[ "$pa" -gt 0 ] && [ "$pb" -gt 0 ] && [ "$pa" != "$pb" ] || fail "ofports '$ports'"
ok "ports pa=$pa pb=$pb"

# 3. A secure bridge with no flows drops everything.
if ip netns exec "$guest_a" ping -c 1 -W 1 10.77.0.2 >/dev/null 2>&1; then
    fail "ping crossed a secure bridge with no flows"
else
    ok "no flows, no ping"
fi

# 4. Flows (ARP and IP both ways) in one batch; the ping must now cross.
printf 'table=0,priority=10,in_port=%s,actions=output:%s\ntable=0,priority=10,in_port=%s,actions=output:%s\n' \
    "$pa" "$pb" "$pb" "$pa" | must "$tool" flows add "$run" data
if ip netns exec "$guest_a" ping -c 3 -i 0.2 -W 2 10.77.0.2 >/dev/null 2>&1; then
    ok "ping a -> b through the bridge"
else
    fail "ping a -> b through the bridge"
fi
stats=$("$tool" stats "$run" data "$pa") || fail "stats"
rx=$(sed -n 's/.*rx_packets=\([0-9]*\).*/\1/p' <<<"$stats")
[ "${rx:-0}" -ge 3 ] && ok "port $pa counted $rx packets in" || fail "port stats '$stats'"
"$tool" dump-flows "$run" data | grep "in_port=$pa " | grep -q "n_packets=[1-9]" \
    && ok "the flow counted the packets" || fail "flow counters did not move"

# 5. Deleting the flows of one direction breaks the ping again.
must "$tool" flows del "$run" data "in_port=$pb"
if ip netns exec "$guest_a" ping -c 1 -W 1 10.77.0.2 >/dev/null 2>&1; then
    fail "ping crossed after its return flow was deleted"
else
    ok "return flow deleted, no ping"
fi

# 6. NSH matches, select groups and meters are accepted on this datapath.
printf 'table=0,priority=20,dl_type=0x894f,nsh_spi=5,nsh_si=255,actions=dec_nsh_ttl,output:%s\n' \
    "$pb" | must "$tool" flows add "$run" data
printf 'group_id=1,type=select,bucket=output:%s,bucket=output:%s\n' "$pa" "$pb" \
    | must "$tool" groups add "$run" data
printf 'meter=1,kbps,band=type=drop,rate=1000\nmeter=2,pktps,band=type=drop,rate=100\n' \
    | must "$tool" meters add "$run" data
"$tool" dump-flows "$run" data | grep -q "nsh_spi=0x5" && ok "NSH flow installed" \
    || fail "NSH flow missing"
must "$tool" groups del "$run" data group_id=1
must "$tool" meters del "$run" data

# 7. The failures a caller must see (wrong bridge "succeeding" with count 0, etc.).
"$tool" errors "$run" data || fail "error paths"

# 8. Ports come and go in batches: 32 guests' worth in one transaction, then one at a time.
out=$("$tool" scale "$run" data 32) && ok "$out" || fail "32 ports in one transaction"
must "$tool" del-port "$run" data pb
"$tool" ofports "$run" pb >/dev/null 2>&1 && fail "pb still has an ofport after delete"
must "$tool" add-br "$run" mgmt standalone mgmt0 internal

# 9. Stop from yet another process: nothing may remain.
must "$tool" stop "$run"
for pid in $pids; do
    running "$pid" && fail "pid $pid still runs after stop"
done
socks=$(find "$run" -type s 2>/dev/null)
[ -z "$socks" ] || fail "sockets left after stop: $socks"
left=$(ls -A "$run" | grep -v '\.log$')
[ -z "$left" ] || fail "files left after stop: $left"
[ -s "$run/ovs-vswitchd.log" ] || fail "no vswitchd log kept"
ok "stopped clean"

# 10. A recorded instance undone by its manifest alone (the daemons outlive the starter).
must "$tool" start "$run2" /run/netns/"$hostns" "$man2" >/dev/null
must "$tool" add-br "$run2" data secure
pids2="$(cat "$run2/ovsdb-server.pid") $(cat "$run2/ovs-vswitchd.pid")"
grep -q "^process .* ovs-vswitchd" "$man2/manifest" || fail "vswitchd not in the manifest"
must "$tool" undo "$man2"
for pid in $pids2; do
    running "$pid" && fail "pid $pid survived manifest undo"
done
[ -e "$run2" ] && fail "manifest undo left $run2: $(ls -A "$run2")"
[ -e "$man2" ] && fail "manifest undo left $man2"
ok "manifest undo stopped the recorded instance"

# 11. Namespaces.
for ((i = ${#made_ns[@]} - 1; i >= 0; i--)); do
    ip netns del "${made_ns[i]}" || fail "ip netns del ${made_ns[i]}"
done
made_ns=()
ip netns list | grep -q "^$tag" && fail "namespaces left: $(ip netns list | grep "^$tag")"

if [ "$failures" -gt 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all ok"
