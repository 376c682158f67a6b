#!/usr/bin/env bash
# System test of injectors/: a line3-sized instance (h1, h2, h3 and an attacker guest on one
# bridge, private OVS, agents) of its own; each fault kind applied to h2 by `sfclab inject`,
# traffic from h1 visibly affected, then healed and traffic restored; targets and kinds that do
# not exist refused (exit 2) before anything is touched.
# Exit 0 pass, 77 skip (not root), anything else fail (a missing tool too: make deps installs it).
set -u

sfclab=${SFCLAB:-$PWD/bin/sfclab}
helper=$PWD/tests/system/inject-helper.py
. tests/system/infra-lib.sh
infra_require_root ovs-ofctl python3
[ -x bin/sfcd ] || { echo "FAIL: bin/sfcd not built"; exit 1; }
infra_instance_init inj

# in_guest GUEST ARGS...: the helper in a guest. Guests do not see the repository: the script
# goes in on standard input.
in_guest() { local g=$1; shift; sl exec "$g" python3 - "$@" <"$helper"; }
# Each ping is one packet waiting at most 1 s: bounded whatever the fault.
pings() { sl exec h1 ping -n -q -c "$1" -i 0.05 -W 1 10.0.0.2 2>/dev/null |
          sed -n 's/.* \([0-9]*\) received.*/\1/p'; }
reach() { [ "$(pings 1)" = 1 ]; }
flows() { ip netns exec "sfclab-$name" ovs-ofctl -O OpenFlow13 dump-flows \
              "unix:$state/$name/ovs/data.mgmt" 2>/dev/null | grep -c cookie=0x5fc1; }

cat > "$tmp/topo.yaml" <<YAML
name: line3-attacker
provider: netns
bridges:
  - name: data
guests:
  - {name: h1, cpus: 1, memory: 128M}
  - {name: h2, cpus: 1, memory: 128M}
  - {name: h3, cpus: 1, memory: 128M}
  - {name: attacker, cpus: 1, memory: 128M}
links:
  - {guest: h1, bridge: data, address: 10.0.0.1/24}
  - {guest: h2, bridge: data, address: 10.0.0.2/24}
  - {guest: h3, bridge: data, address: 10.0.0.3/24}
  - {guest: attacker, bridge: data, address: 10.0.0.66/24}
YAML
sl up "$tmp/topo.yaml" >/dev/null || { echo "FAIL: up"; exit 1; }
reach || { echo "FAIL: h1 cannot ping h2 before any fault"; exit 1; }

# --- refused before anything runs
out=$(sl inject 'vnf[9]' crash 2>&1); rc=$?
[ $rc = 2 ] && grep -q "does not exist" <<<"$out" && ok "unknown target refused: $out" ||
    fail "unknown target: rc $rc: $out"
out=$(sl inject h2 meltdown 2>&1); rc=$?
[ $rc = 2 ] && grep -q "unknown fault kind" <<<"$out" && ok "unknown kind refused" ||
    fail "unknown kind: rc $rc: $out"
out=$(sl inject h2 crash sideways 2>&1); rc=$?
[ $rc = 2 ] && grep -q "no mode" <<<"$out" && ok "unknown mode refused" ||
    fail "unknown mode: rc $rc: $out"
out=$(sl inject h2 mitm flip --attacker nobody 2>&1); rc=$?
[ $rc = 2 ] && grep -q "no attacker guest" <<<"$out" && ok "missing attacker refused" ||
    fail "missing attacker: rc $rc: $out"
out=$(sl inject h2 pause --heal 2>&1); rc=$?
[ $rc = 2 ] && ok "heal of a fault never applied refused" || fail "heal without fault: rc $rc"
[ "$(flows)" = 0 ] && [ ! -e "$state/$name/faults" ] && reach &&
    ok "nothing touched by the refusals" || fail "a refusal touched the instance"

# --- each kind and its heal, seen by a UDP echo served by a process in h2 (a frozen guest's
# kernel still answers pings, so ping cannot see a pause).
sl exec h2 "$PWD/bin/sfcd" echo >/dev/null 2>&1 &
sleep 0.3
echo_ok() { [ "$(in_guest h1 udp-echo-ask 10.0.0.2 2>/dev/null)" = same ]; }
echo_ok && ok "echo answers before faults" || fail "echo does not answer before faults"
check_kind() {          # KIND MODE [ARGS...]: h1 -> h2 echo fails during, works after heal
    local kind=$1 mode=$2; shift 2
    sl inject h2 "$kind" "$mode" "$@" >/dev/null || { fail "$kind $mode: apply"; return; }
    if echo_ok; then fail "$kind $mode: h2 still answers"; else ok "$kind $mode: h2 cut off"; fi
    sl inject h2 "$kind" --heal >/dev/null || { fail "$kind $mode: heal"; return; }
    local n=0
    for _ in 1 2 3; do echo_ok && n=1 && break; done
    [ $n = 1 ] && ok "$kind $mode: healed" || fail "$kind $mode: not restored after heal"
}
check_kind pause freeze
check_kind crash links
check_kind omission drop
[ "$(flows)" = 0 ] && ok "heals left no injector flow" || fail "flows left: $(flows)"

# Partial omission through the attacker: some of 40 pings lost, not all.
sl inject h2 omission --fraction 0.5 --attacker attacker >/dev/null || fail "omission 0.5"
got=$(pings 40)
[ -n "$got" ] && [ "$got" -gt 0 ] && [ "$got" -lt 40 ] && ok "omission 0.5: $got/40 answered" ||
    fail "omission 0.5: ${got:-?}/40 answered"
sl inject h2 omission --heal >/dev/null || fail "omission 0.5: heal"
# The switch's datapath cache may keep the removed rule's action for a moment under load.
for _ in 1 2 3 4 5; do reach && break; done
got=$(pings 20)
[ "$got" = 20 ] && ok "omission 0.5 healed: 20/20" || fail "after omission heal: ${got:-?}/20"

# mitm flip on h2's UDP echo replies.
[ "$(in_guest h1 udp-echo-ask 10.0.0.2)" = same ] &&
    ok "echo intact before mitm" || fail "echo broken before mitm"
sl inject h2 mitm flip >/dev/null || fail "mitm flip: apply"
r=$(in_guest h1 udp-echo-ask 10.0.0.2 2>&1)
[ "$r" = altered ] && ok "mitm flip: reply altered" || fail "mitm flip: reply $r"
sl inject h2 mitm --heal >/dev/null || fail "mitm flip: heal"
for _ in 1 2 3 4 5; do reach && break; done
r=$(in_guest h1 udp-echo-ask 10.0.0.2 2>&1)
[ "$r" = same ] && ok "mitm flip healed: reply intact" || fail "after mitm heal: $r"

# mitm replay: every reply forwarded, plus an old one re-sent: h1 gets more answers than it
# asked for, the extra ones answers to earlier requests.
r=$(in_guest h1 udp-echo-series 10.0.0.2 20 2>&1)
set -- $r
[ "${2:-}" = 20 ] && [ "${4:-0}" = 20 ] && [ "${6:-0}" = 0 ] && ok "before replay: $r" ||
    fail "before replay: $r"
sl inject h2 mitm replay >/dev/null || fail "mitm replay: apply"
r=$(in_guest h1 udp-echo-series 10.0.0.2 20 2>&1)
set -- $r
[ "${4:-0}" -ge 35 ] && [ "${6:-0}" -ge 15 ] && ok "mitm replay: $r (old answers re-sent)" ||
    fail "mitm replay: $r (expected >= 35 received, >= 15 stale)"
sl inject h2 mitm --heal >/dev/null || fail "mitm replay: heal"
for _ in 1 2 3 4 5; do reach && break; done
r=$(in_guest h1 udp-echo-series 10.0.0.2 20 2>&1)
set -- $r
[ "${4:-0}" = 20 ] && [ "${6:-0}" = 0 ] && ok "replay healed: $r" || fail "after replay heal: $r"

# mitm equivocate: receivers with an odd MAC get altered copies, the others the truth. h1 is
# one receiver: what it gets depends on its MAC, and h3 with the other parity (when it has
# one) gets the other.
for h in h1 h3; do
    addr=10.0.0.${h#h}
    ifc=$(sl exec $h ip -o -4 addr show to "$addr/32" 2>/dev/null | awk '{print $2; exit}')
    mac=$(sl exec $h ip -o link show dev "$ifc" 2>/dev/null | sed -n 's|.*link/ether \([0-9a-f:]*\).*|\1|p')
    [ -n "$mac" ] || fail "no MAC for $h ($addr on '$ifc')"
    eval "${h}_odd=\$(( 0x\${mac##*:} & 1 ))"
done
# Make the two parities differ: h3 takes h1's MAC with the low bit of its last byte flipped.
if [ "$h1_odd" = "$h3_odd" ]; then
    ifc=$(sl exec h3 ip -o -4 addr show to 10.0.0.3/32 | awk '{print $2; exit}')
    mac=$(sl exec h3 ip -o link show dev "$ifc" | sed -n 's|.*link/ether \([0-9a-f:]*\).*|\1|p')
    last=$(printf '%02x' $(( (0x${mac##*:} & 0xfe) | (1 - h1_odd) )))
    sl exec h3 ip link set dev "$ifc" address "${mac%:*}:$last" || fail "cannot set h3's MAC"
    sl exec h2 ip neigh flush all >/dev/null 2>&1
    h3_odd=$((1 - h1_odd))
fi
sl inject h2 mitm equivocate >/dev/null || fail "mitm equivocate: apply"
for h in h1 h3; do
    eval "odd=\$${h}_odd"
    want=$([ "$odd" = 1 ] && echo altered || echo same)
    r=$(in_guest $h udp-echo-ask 10.0.0.2 2>&1)
    [ "$r" = "$want" ] && ok "mitm equivocate: $h (MAC parity $odd) got $r" ||
        fail "mitm equivocate: $h (MAC parity $odd) got $r, expected $want"
done
sl inject h2 mitm --heal >/dev/null || fail "mitm equivocate: heal"
for _ in 1 2 3 4 5; do reach && break; done

# mitm dns-spoof on a DNS server's answers.
in_guest h2 dns-server 10.9.9.9 >/dev/null 2>&1 &
dns_pid=$!
sleep 0.5
r=$(in_guest h1 dns-ask 10.0.0.2 www.example.com 2>&1)
[ "$r" = 10.9.9.9 ] && ok "dns answer true before mitm" || fail "dns before mitm: $r"
sl inject h2 mitm dns-spoof --spoof-ip 6.6.6.6 >/dev/null || fail "dns-spoof: apply"
r=$(in_guest h1 dns-ask 10.0.0.2 www.example.com 2>&1)
[ "$r" = 6.6.6.6 ] && ok "mitm dns-spoof: client got the forged A record" ||
    fail "dns-spoof: got $r"
if command -v dig >/dev/null; then
    r=$(sl exec h1 dig +short +tries=1 +time=1 @10.0.0.2 www.example.com A 2>&1)
    [ "$r" = 6.6.6.6 ] && ok "dig sees the forged A record" || fail "dig: $r"
else
    fail "dig is not installed (make deps installs bind9-dnsutils)"
fi
sl inject h2 mitm --heal >/dev/null || fail "dns-spoof: heal"
for _ in 1 2 3 4 5; do reach && break; done
r=$(in_guest h1 dns-ask 10.0.0.2 www.example.com 2>&1)
[ "$r" = 10.9.9.9 ] && ok "dns-spoof healed: true answer" || fail "after dns-spoof heal: $r"

# crash kill: a role started through h2's agent is SIGKILLed.
mgmt=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([g for g in d["guests"]
    if g["name"]=="h2"][0]["mgmt"])' "$state/$name/instance.json" 2>/dev/null)
if [ -n "$mgmt" ]; then
    sl agent h2 start_role '{"role": "echo", "args": ["--port", "9"]}' >/dev/null
    sl inject h2 crash kill >/dev/null && ok "crash kill applied" || fail "crash kill"
    r=$(sl agent h2 roles)
    grep -q '"running": false' <<<"$r" && grep -q '"exit_code": 137' <<<"$r" &&
        ok "crash kill: role died of SIGKILL" || fail "crash kill: roles $r"
else
    fail "no management address for h2 in instance.json"
fi

# crash destroy: h3's init (and so everything in it) is gone for good.
pid3=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([g for g in d["guests"]
    if g["name"]=="h3"][0]["handle"].split()[0])' "$state/$name/instance.json" 2>/dev/null)
[ -n "$pid3" ] && [ -d "/proc/$pid3" ] || fail "h3 has no running init before destroy"
sl inject h3 crash destroy >/dev/null && ok "crash destroy applied" || fail "crash destroy"
# Gone, or a zombie its parent (whoever adopted it after `up` exited) has yet to reap.
[ -n "$pid3" ] && { [ ! -d "/proc/$pid3" ] || grep -q '^State:.*Z' "/proc/$pid3/status"; } && ok "crash destroy: h3's init $pid3 is gone" ||
    fail "after destroy h3's init $pid3 still runs"

echo "inject system test: $failures failure(s)"
[ "$failures" = 0 ]
