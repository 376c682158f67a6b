#!/usr/bin/env bash
# Points of presence: guests a1, a2 in PoP eu, b1 in PoP us, joined by a WAN link of 10 ms each
# way (and 20% loss from us to eu). Traffic inside a PoP crosses no WAN; traffic between PoPs
# crosses it once per direction, measured end to end within +-20%: ping RTT a1 -> b1 is 20 ms
# above the bare RTT; a1 -> a2 is not delayed; 20% of 2,000 UDP packets from b1 to a1 are lost
# and none from a2 to a1.
# Exit 0 pass, 77 skip (not root), anything else fail (a missing tool too: make deps installs it).
set -u

sfclab=${SFCLAB:-$PWD/bin/sfclab}
udp=$PWD/tests/system/impair-udp.py
. tests/system/infra-lib.sh
infra_require_root ping python3
[ -x bin/sfcd ] || { echo "FAIL: bin/sfcd not built"; exit 1; }
infra_instance_init imp

check() {   # check WHAT VALUE EXPECTED UNIT
    if python3 -c "import sys; v, e = float(sys.argv[1]), float(sys.argv[2]); \
sys.exit(0 if abs(v - e) <= 0.2 * e else 1)" "$2" "$3"; then ok "$1: $2 $4 (asked $3)"
    else fail "$1: $2 $4, asked $3 (+-20%)"; fi
}

cat > "$tmp/topo.yaml" <<YAML
name: pops-selftest
bridges:
  - name: data
guests:
  - {name: a1}
  - {name: a2}
  - {name: b1}
links:
  - {guest: a1, bridge: data, address: 10.0.0.1/24}
  - {guest: a2, bridge: data, address: 10.0.0.2/24}
  - {guest: b1, bridge: data, address: 10.0.0.3/24}
pops:
  - {name: eu, guests: [a1, a2]}
  - {name: us, guests: [b1]}
wan:
  - {between: [eu, us], delay: 10ms, ingress: {loss: 20%}}
YAML
sl up "$tmp/topo.yaml" >/dev/null || { echo "FAIL: up"; exit 1; }
sleep 0.3       # the stages read their PoP classes within 100 ms
for a in 2 3; do sl exec a1 ping -n -q -c 1 -W 2 10.0.0.$a >/dev/null 2>&1; done

grep -q '^a1 eth1 wan->us delay=10ms: delay=10ms=stage (frames to PoP us)$' \
    "$state/$name/shaping" && grep -q '^b1 eth1 wan->eu delay=10ms loss=20%: ' "$state/$name/shaping" &&
    ok "WAN recorded per PoP guest and direction" || { fail "WAN record:"; cat "$state/$name/shaping"; }

rtts() { sl exec a1 ping -n -c 200 -i 0.02 "$1" 2>/dev/null | sed -n 's/.*time=\([0-9.]*\) ms/\1/p'; }
rtts 10.0.0.2 > "$tmp/intra"
rtts 10.0.0.3 > "$tmp/inter"
read -r intra inter <<<"$(python3 -c "
import statistics, sys
m = lambda f: statistics.median(float(x) for x in open(f))
print(m('$tmp/intra'), m('$tmp/inter'))")"
python3 -c "import sys; sys.exit(0 if float('$intra') < 5 else 1)" &&
    ok "inside a PoP: no WAN delay (median RTT $intra ms)" || fail "inside a PoP: median RTT $intra ms"
check "between PoPs: WAN delay (RTT minus intra-PoP RTT)" \
    "$(python3 -c "print(round($inter - $intra, 3))")" 20 ms

stream() {  # stream FROM TO_ADDR RECEIVER -> counts
    sl exec "$3" python3 - recv 9000 20 <"$udp" > "$tmp/counts" & local r=$!
    sleep 0.5
    sl exec "$1" python3 - send "$2" 9000 2000 200 <"$udp"
    wait $r
    sed -n 's/.*unique=\([0-9]*\).*/\1/p' "$tmp/counts"
}
got=$(stream b1 10.0.0.1 a1)
check "WAN loss us -> eu" "$((2000 - ${got:-0}))" 400 "of 2,000 packets"
got=$(stream a2 10.0.0.1 a1)
[ "${got:-0}" -ge 1980 ] && ok "no loss inside a PoP ($got of 2,000)" ||
    fail "inside a PoP: $got of 2,000 arrived"

echo "impair-pops: $failures failed"
[ "$failures" = 0 ]
