#!/usr/bin/env bash
# System test of testbed/infra/openflow: one persistent OpenFlow connection per of-tool run to a
# private Open vSwitch (started as tests/system/ovs.sh does), checked against the switch itself:
# flows carry a ping, every match and action deploy uses is installed as written (ovs-ofctl
# only dumps), refusals come back in the switch's words, deletes remove what they should, and
# a fast-failover group moves traffic to the backup port when the primary's link goes down
# from the guest side, with no flow change from us, and back when it comes up; a select group
# spreads flows over both.
# Exit 0 pass, 77 skip (not root, no Open vSwitch), anything else fail.
set -u

ovs_tool=${OVS_TOOL:-build/tests/ovs-tool}
of_tool=${OF_TOOL:-build/tests/of-tool}
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
for p in ovsdb-server ovs-vswitchd ovs-ofctl ip ping; do
    command -v "$p" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v "$p" >/dev/null 2>&1 || { echo "skip: $p not installed"; exit 77; }
done
for t in "$ovs_tool" "$of_tool"; do
    [ -x "$t" ] || { echo "FAIL: $t not built"; exit 1; }
done

tag=sfct-of-$$
hostns=$tag ns_a=$tag-a ns_p=$tag-p ns_s=$tag-s
tmp=$(mktemp -d /tmp/sfct-of-XXXXXX)
run=$tmp/run
made_ns=()

cleanup() {
    for f in "$run"/ovs-vswitchd.pid "$run"/ovsdb-server.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        case $(cat /proc/"$pid"/comm 2>/dev/null) in
            ovs-vswitchd|ovsdb-server) kill -9 "$pid" 2>/dev/null ;;
        esac
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
apply() { "$of_tool" apply "$run" data; }
dump() { OVS_RUNDIR=$run ovs-ofctl -O OpenFlow13 dump-flows "unix:$run/data.mgmt" --no-stats; }
dump_groups() { OVS_RUNDIR=$run ovs-ofctl -O OpenFlow13 dump-groups "unix:$run/data.mgmt"; }
pings() { ip netns exec "$ns_a" ping -c "${2:-1}" -i 0.2 -W 1 "$1" >/dev/null 2>&1; }
rx_packets() { ip netns exec "$1" cat /sys/class/net/"$2"/statistics/rx_packets; }

for ns in "$hostns" "$ns_a" "$ns_p" "$ns_s"; do
    made_ns+=("$ns")
    must ip netns add "$ns"
    must ip -n "$ns" link set lo up
    # No IPv6 autoconfiguration: the host end of a veth would send its router solicitations
    # straight to the guest end, packets the port counters below would blame on the switch.
    must ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1
done
# a: the sender. p and s: a primary and its backup, the same MAC and address, as a replica
# that takes over would have.
must ip -n "$hostns" link add pa type veth peer name ga netns "$ns_a"
must ip -n "$hostns" link add pp type veth peer name gp netns "$ns_p"
must ip -n "$hostns" link add ps type veth peer name gs netns "$ns_s"
for end in pa pp ps; do must ip -n "$hostns" link set "$end" up; done
must ip -n "$ns_a" addr add 10.77.0.1/24 dev ga
must ip -n "$ns_a" link set ga address 02:77:00:00:00:01
for g in "$ns_p gp" "$ns_s gs"; do
    set -- $g
    must ip -n "$1" link set "$2" address 02:77:00:00:00:02
    must ip -n "$1" addr add 10.77.0.2/24 dev "$2"
done
for g in "$ns_a ga" "$ns_p gp" "$ns_s gs"; do
    set -- $g
    must ip -n "$1" link set "$2" up
done

must "$ovs_tool" start "$run" /run/netns/"$hostns" >/dev/null
must "$ovs_tool" add-br "$run" data secure
ports=$("$ovs_tool" add-ports "$run" data pa pp ps) || { echo "FAIL: add-ports"; exit 1; }
read -r a p s <<<"$ports"
ok "ports a=$a p=$p s=$s"

# 1. Flows over the channel carry a ping; none before.
pings 10.77.0.2 && fail "ping crossed a secure bridge with no flows"
printf 'add priority=10,in_port=%s,actions=output:%s\nadd priority=10,in_port=%s,actions=output:%s\n' \
    "$a" "$p" "$p" "$a" | apply || fail "flows a<->p refused"
pings 10.77.0.2 3 && ok "ping a -> p through flows sent over the channel" || fail "ping a -> p"

# 2. Every match and action deploy uses, as the switch reads them back.
apply <<EOF || fail "match/action flows refused"
add table=0,priority=50,cookie=0x5f,dl_dst=02:77:00:00:00:09,actions=output:$s
add priority=200,in_port=$a,ip,nw_dst=10.77.0.250,actions=output:$p
add priority=60,dl_src=02:77:00:00:00:01,udp,nw_src=10.77.0.0/24,tp_dst=53,actions=set_field:10.77.0.9->ip_dst,output:$s
add priority=20,in_port=$p,dl_type=0x894f,nsh_spi=5,nsh_si=255,actions=set_field:254->nsh_si,set_field:02:77:00:00:00:09->eth_dst,output:in_port
EOF
flows=$(dump)
for want in "cookie=0x5f, priority=50,dl_dst=02:77:00:00:00:09 actions=output:$s" \
            "priority=200,ip,in_port=$a,nw_dst=10.77.0.250 actions=output:$p" \
            "priority=60,udp,dl_src=02:77:00:00:00:01,nw_src=10.77.0.0/24,tp_dst=53 actions=set_field:10.77.0.9->ip_dst,output:$s" \
            "priority=20,in_port=$p,dl_type=0x894f,nsh_spi=0x5,nsh_si=255 actions=set_field:254->nsh_si,set_field:02:77:00:00:00:09->eth_dst,IN_PORT"; do
    grep -qF -- "$want" <<<"$flows" && ok "installed: $want" || fail "missing: $want (got: $flows)"
done

# 3. Refusals in the switch's words, and the batch's other requests still applied.
err=$(printf 'add priority=7,in_port=%s,actions=group:99\nadd priority=8,in_port=%s,actions=output:%s\n' \
      "$s" "$s" "$a" | apply 2>&1) && fail "a flow to a missing group was accepted"
grep -q "FLOW_MOD (xid [0-9]*): OFPBAC_BAD_OUT_GROUP: output to a group that does not exist" <<<"$err" \
    && ok "refusal: $(grep -o 'OFPBAC_BAD_OUT_GROUP.*exist' <<<"$err" | head -1)" || fail "refusal text: $err"
dump | grep -q "priority=8,in_port=$s actions=output:$a" && ok "the rest of the batch applied" \
    || fail "the request after a refused one was lost"
printf 'group-add group_id=3,type=select,bucket=actions=output:%s\n' "$p" | apply \
    || fail "select group refused"
err=$(printf 'group-add group_id=3,type=select,bucket=actions=output:%s\n' "$p" | apply 2>&1) \
    && fail "a duplicate group was accepted"
grep -q "OFPGMFC_GROUP_EXISTS" <<<"$err" && ok "refusal: group exists" || fail "dup group: $err"

# 4. Deletes: strict takes one flow; by cookie takes what carries it; groups by id.
printf 'del-strict priority=200,in_port=%s,ip,nw_dst=10.77.0.250\ndel cookie=0x5f/-1\ngroup-del 3\n' \
    "$a" | apply || fail "deletes refused"
flows=$(dump)
grep -q "nw_dst=10.77.0.250" <<<"$flows" && fail "strict delete left its flow"
grep -q "cookie=0x5f" <<<"$flows" && fail "delete by cookie left its flow"
grep -q "priority=60" <<<"$flows" || fail "a delete took a flow it did not match"
dump_groups | grep -q "group_id=3" && fail "group 3 survived its delete"
ok "deletes took exactly their flows"

# 5. Many changes on one connection (no timing asserted here; make bench reports it).
out=$("$of_tool" bench "$run" data 20 "$p" "$s") && ok "$(sed -n 2p <<<"$out" | tr -s ' ')" \
    || fail "steering changes on one connection: $out"

# 6. Fast failover: a's traffic goes to group 1, primary p while its link is up, else s.
apply <<EOF || fail "fast-failover group refused"
del
group-del all
group-add group_id=1,type=ff,bucket=watch_port:$p,actions=output:$p,bucket=watch_port:$s,actions=output:$s
add priority=10,in_port=$a,actions=group:1
add priority=10,in_port=$p,actions=output:$a
add priority=10,in_port=$s,actions=output:$a
EOF
before=$(dump; dump_groups)
p0=$(rx_packets "$ns_p" gp) s0=$(rx_packets "$ns_s" gs)
pings 10.77.0.2 3 || fail "ping through the fast-failover group"
p1=$(rx_packets "$ns_p" gp) s1=$(rx_packets "$ns_s" gs)
[ $((p1 - p0)) -ge 3 ] && [ "$s1" = "$s0" ] && ok "primary up: p took $((p1 - p0)) packets, s none" \
    || fail "primary up: p +$((p1 - p0)), s +$((s1 - s0))"

must ip -n "$ns_p" link set gp down    # the guest's side; the switch sees its port's carrier go
moved=0
for _ in $(seq 1 25); do
    pings 10.77.0.2 && { moved=1; break; }
done
s2=$(rx_packets "$ns_s" gs)
[ "$moved" = 1 ] && [ "$s2" -gt "$s1" ] && ok "primary down: the switch moved traffic to s alone (+$((s2 - s1)))" \
    || fail "primary down: no ping through s (s +$((s2 - s1)))"
[ "$(dump; dump_groups)" = "$before" ] || fail "flows or groups changed during the failover"

must ip -n "$ns_p" link set gp up
back=0
for _ in $(seq 1 25); do
    p2=$(rx_packets "$ns_p" gp)
    pings 10.77.0.2 && [ "$(rx_packets "$ns_p" gp)" -gt "$p2" ] && { back=1; break; }
    sleep 0.2
done
[ "$back" = 1 ] && ok "primary up again: traffic back on p" || fail "traffic did not return to p"

# 7. Select: the switch spreads a's flows over p and s by hash, one bucket per flow. (Here the
# hash leaves the L4 ports out: flows differ by source address.)
echo "group-mod group_id=1,type=select,bucket=actions=output:$p,bucket=actions=output:$s" \
    | apply || fail "select group refused"
p0=$(rx_packets "$ns_p" gp) s0=$(rx_packets "$ns_s" gs)
for i in $(seq 11 26); do
    ip -n "$ns_a" addr add 10.77.0.$i/24 dev ga 2>/dev/null
    ip netns exec "$ns_a" ping -c 1 -W 1 -I 10.77.0.$i 10.77.0.2 >/dev/null 2>&1
done
p1=$(rx_packets "$ns_p" gp) s1=$(rx_packets "$ns_s" gs)
[ $((p1 - p0)) -ge 1 ] && [ $((s1 - s0)) -ge 1 ] \
    && ok "select: 16 flows spread over p (+$((p1 - p0))) and s (+$((s1 - s0)))" \
    || fail "select: p +$((p1 - p0)), s +$((s1 - s0)): $(dump_groups)"

# 8. (OPENFLOW_IDLE=1 only: 2 minutes.) vswitchd drops a connection that stays silent through
# its 60 s inactivity probe and 60 s more; the next request reopens it, unseen by the caller.
if [ "${OPENFLOW_IDLE:-0}" = 1 ]; then
    printf 'add priority=5,in_port=%s,actions=drop\nbarrier\nsleep 130000\nadd priority=6,in_port=%s,actions=drop\n' \
        "$p" "$s" | apply || fail "a request after 130 s of silence"
    grep -q "no response to inactivity probe" "$run/ovs-vswitchd.log" \
        && dump | grep -q "priority=6,in_port=$s" \
        && ok "dropped by vswitchd after 120 s idle, reopened for the next request" \
        || fail "idle connection: $(grep -c inactivity "$run/ovs-vswitchd.log") drops; $(dump)"
fi

must "$ovs_tool" stop "$run"
if [ "$failures" -gt 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all ok"
