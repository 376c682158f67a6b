#!/usr/bin/env bash
# End-to-end test of the foundation (issue 2): `sfclab up topologies/line3.yaml`, ping and
# iperf3 TCP/UDP between guests, exec's argv and exit codes, status, a refused second `up`, a
# malformed file refused with exit 2 and nothing made, two instances with the same addresses side
# by side (and a namespace added by hand beside them), and after `down` nothing left: no namespace, no recorded process, no cgroup, no state
# directory, and the root namespace's links as they were.
# Exit 0 pass, 77 skip (not root), anything else fail (a missing tool too: make deps installs it).
set -u
cd "$(dirname "$0")/../.." || exit 1
sfclab=${SFCLAB:-bin/sfclab}
state_dir=${SFCLAB_STATE_DIR:-/run/sfclab}
. tests/system/infra-lib.sh
infra_require_root iperf3 ping

a=sfct-it-ud-$$ b=sfct-it-ud2-$$ bad=sfct-it-bad-$$ stray=sfct-it-stray-$$
tmp=$(mktemp -d /tmp/sfct-it-ud-XXXXXX)
cleanup() {
    for i in "$b" "$a" "$bad"; do
        "$sfclab" -i "$i" clean >/dev/null 2>&1
    done
    ip netns del "$stray" 2>/dev/null
    rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sx() { local i=$1; shift; "$sfclab" -i "$i" exec "$@"; }

# A one-shot iperf3 server in guest $2 of instance $1; waits (bounded) until it listens.
iperf_server() {
    local i=$1 g=$2 port=$3
    "$sfclab" -i "$i" exec "$g" iperf3 -s -1 -p "$port" >"$tmp/server-$port.log" 2>&1 &
    for ((k = 0; k < 100; k++)); do
        sx "$i" "$g" ss -Hltn "sport = :$port" 2>/dev/null | grep -q LISTEN && return 0
        sleep 0.05
    done
    return 1
}

root_links >"$tmp/links-before"
# Whether `up` can still make /run/netns a mount point of its own (nothing mounted under it
# yet, or it is one already): then a namespace added by hand must not stop `down` (below).
netns_dir_free=0
mountpoint -q /run/netns || ! awk '$5 ~ "^/run/netns/" { f = 1 } END { exit !f }' \
    /proc/self/mountinfo && netns_dir_free=1

# --- up, ping, traffic
must "$sfclab" -i "$a" up topologies/line3.yaml
save_manifest "$a" "$tmp/manifest-a"
grep -q '^guest ' "$tmp/manifest-a" || fail "manifest of $a records no guest"
# The instance's cpu group outweighs a process of any other session on the guests' CPU.
w=$(for d in $(cgroup_dirs); do cat "$d/sfclab-$a/cpu.shares" "$d/sfclab-$a/cpu.weight"; done \
    2>/dev/null | sort -u)
case $w in
    262144|10000) ok "the instance's cpu group has the maximum weight ($w)" ;;
    *) fail "the instance's cpu group weighs '$w', not the maximum" ;;
esac

if sx "$a" h1 ping -c 3 -i 0.2 -W 2 10.0.0.3 >"$tmp/ping" 2>&1; then
    ok "h1 pings h3 (10.0.0.3)"
else
    fail "h1 cannot ping h3"; cat "$tmp/ping"
fi

if iperf_server "$a" h3 5201; then
    if sx "$a" h1 iperf3 -c 10.0.0.3 -p 5201 -t 2 -J >"$tmp/tcp.json" 2>&1; then
        bps=$(jq '.end.sum_received.bits_per_second' "$tmp/tcp.json")
        if awk -v b="$bps" 'BEGIN {exit !(b > 0)}'; then
            ok "TCP h1 -> h3: $(awk -v b="$bps" 'BEGIN {printf "%.0f Mbit/s", b / 1e6}')"
        else
            fail "TCP h1 -> h3: bitrate '$bps'"
        fi
    else
        fail "TCP iperf3 h1 -> h3 failed"; tail -5 "$tmp/tcp.json"
    fi
else
    fail "iperf3 server in h3 does not listen"; cat "$tmp/server-5201.log"
fi
wait

if iperf_server "$a" h3 5202; then
    if sx "$a" h2 iperf3 -u -b 10M -c 10.0.0.3 -p 5202 -t 2 -J >"$tmp/udp.json" 2>&1; then
        read -r bps lost pkts < <(jq -r '.end.sum | "\(.bits_per_second) \(.lost_percent) \(.packets)"' "$tmp/udp.json")
        if awk -v b="$bps" -v l="$lost" -v p="$pkts" 'BEGIN {exit !(b > 0 && l == 0 && p > 0)}'; then
            ok "UDP h2 -> h3: $(awk -v b="$bps" 'BEGIN {printf "%.1f Mbit/s", b / 1e6}'), $pkts datagrams, 0% loss"
        else
            fail "UDP h2 -> h3: bitrate '$bps', loss '$lost'%, $pkts datagrams"
        fi
    else
        fail "UDP iperf3 h2 -> h3 failed"; tail -5 "$tmp/udp.json"
    fi
else
    fail "iperf3 server in h3 does not listen"; cat "$tmp/server-5202.log"
fi
wait

# --- exec: argv arrives untouched, the exit code comes back
out=$(HOME=/should-not-expand sx "$a" h2 printf '%s|' 'a;b' '$HOME' 'x y' '*' '`id`')
if [ "$out" = 'a;b|$HOME|x y|*|`id`|' ]; then
    ok "exec passes argv untouched"
else
    fail "exec changed argv: '$out'"
fi
sx "$a" h2 sh -c 'exit 7'; rc=$?
[ "$rc" = 7 ] && ok "exec returns the command's exit code (7)" || fail "exec returned $rc, not 7"
sx "$a" h2 true; rc=$?
[ "$rc" = 0 ] && ok "exec of true returns 0" || fail "exec of true returned $rc"
sx "$a" h2 /nonexistent/sfct-it 2>/dev/null; rc=$?
[ "$rc" -ne 0 ] && ok "exec of a missing program fails ($rc)" || fail "exec of a missing program returned 0"
sx "$a" nosuchguest true 2>/dev/null; rc=$?
[ "$rc" = 2 ] && ok "exec in an unknown guest exits 2" || fail "exec in an unknown guest returned $rc"
# The guest's hostname is its own (UTS namespace).
[ "$(sx "$a" h3 hostname)" = h3 ] && ok "h3's hostname is h3" || fail "h3's hostname is '$(sx "$a" h3 hostname)'"

# --- status
"$sfclab" -i "$a" status >"$tmp/status" 2>&1 || fail "status exited non-zero"
for g in h1 h2 h3; do
    grep -q "^$g .*running" "$tmp/status" || fail "status does not list $g running"
done
grep -q '10.0.0.3/24' "$tmp/status" && ok "status lists h1 h2 h3 with their addresses" ||
    fail "status lacks h3's address"

# --- a second up of the same instance fails and leaves it alone
pids_before=$(awk '$1 == "guest" || $1 == "process" {print $2}' "$state_dir/$a/manifest" | sort)
sum_before=$(md5sum <"$state_dir/$a/manifest")
"$sfclab" -i "$a" up topologies/line3.yaml >"$tmp/up2" 2>&1; rc=$?
if [ "$rc" -ne 0 ]; then ok "second up of $a refused (exit $rc)"; else fail "second up of $a succeeded"; fi
[ "$sum_before" = "$(md5sum <"$state_dir/$a/manifest")" ] || fail "second up changed $a's manifest"
for p in $pids_before; do
    [ -d /proc/"$p" ] || fail "second up: pid $p of $a is gone"
done
sx "$a" h1 ping -c 1 -W 2 10.0.0.3 >/dev/null 2>&1 && ok "$a still works after the refused up" ||
    fail "$a broken by the refused second up"

# --- a malformed file: exit 2, nothing made
fixture=tests/fixtures/topology/dangling-references.yaml
[ -f "$fixture" ] || fixture=$tmp/bad.yaml
[ -f "$fixture" ] || printf 'name: x\nguests:\n  - {name: h1, cpus: -1}\n' >"$fixture"
root_links >"$tmp/links-bad"
"$sfclab" -i "$bad" up "$fixture" >"$tmp/upbad" 2>&1; rc=$?
[ "$rc" = 2 ] && ok "up of a malformed file exits 2" || { fail "up of $fixture exited $rc"; cat "$tmp/upbad"; }
grep -q "^$fixture:[0-9]*:[0-9]*: " "$tmp/upbad" || fail "up of a malformed file printed no file:line:col"
: >"$tmp/empty"
check_nothing_left "$bad" "$tmp/empty" "$tmp/links-bad" && ok "the refused up made nothing" ||
    fail "the refused up left something behind"

# --- a second instance with the same topology and addresses, side by side
must "$sfclab" -i "$b" up topologies/line3.yaml
save_manifest "$b" "$tmp/manifest-b"
sx "$b" h1 ping -c 2 -i 0.2 -W 2 10.0.0.3 >/dev/null 2>&1 && ok "$b: h1 pings h3" || fail "$b: h1 cannot ping h3"
sx "$a" h1 ping -c 2 -i 0.2 -W 2 10.0.0.3 >/dev/null 2>&1 && ok "$a: h1 pings h3 beside $b" ||
    fail "$a: h1 cannot ping h3 once $b is up"
# Same address, different guests: each instance reaches its own h3.
[ "$(sx "$a" h1 cat /proc/sys/kernel/hostname)" = h1 ] || fail "$a h1 is not h1"
guest_mac() { sx "$1" "$2" ip -o link show "$3" 2>/dev/null | sed -n 's|.*link/ether \([0-9a-f:]*\) .*|\1|p'; }
mac_a=$(guest_mac "$a" h3 eth1) mac_b=$(guest_mac "$b" h3 eth1)
[ -n "$mac_a" ] && [ "$mac_a" != "$mac_b" ] || fail "both instances' h3 have MAC '$mac_a'"
sx "$a" h1 ping -c 1 -W 2 10.0.0.3 >/dev/null 2>&1
sx "$a" h1 ip neigh show 10.0.0.3 | grep -q "$mac_a" && ok "$a's h1 resolves 10.0.0.3 to its own h3" ||
    fail "$a's h1 resolves 10.0.0.3 to '$(sx "$a" h1 ip neigh show 10.0.0.3)', not $mac_a"

# `ip netns add` makes /run/netns a mount point when it is not one, over the namespaces
# already mounted there: their unmount then misses and their unlink fails (EBUSY).
if [ "$netns_dir_free" = 1 ]; then
    ip netns add "$stray" || fail "ip netns add $stray"
else
    echo "note: /run/netns had namespaces mounted under it before this test: no stray added"
fi
"$sfclab" -i "$b" down >/dev/null || fail "down of $b failed"
check_nothing_left "$b" "$tmp/manifest-b" "$tmp/links-before" && ok "nothing of $b left after down" ||
    fail "something of $b is left after down"
ip netns del "$stray" 2>/dev/null
sx "$a" h1 ping -c 2 -i 0.2 -W 2 10.0.0.3 >/dev/null 2>&1 && ok "$a still works after $b's down" ||
    fail "$a stopped working when $b went down"

# --- down of the first; and a second down of it is not an error that touches anything
save_manifest "$a" "$tmp/manifest-a"
"$sfclab" -i "$a" down >/dev/null || fail "down of $a failed"
check_nothing_left "$a" "$tmp/manifest-a" "$tmp/links-before" && ok "nothing of $a left after down" ||
    fail "something of $a is left after down"
"$sfclab" -i "$a" status >/dev/null 2>&1 && fail "status of $a succeeds after down"

echo "infra-updown: $failures failure(s)"
[ "$failures" = 0 ]
