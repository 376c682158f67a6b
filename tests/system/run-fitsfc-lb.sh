#!/usr/bin/env bash
# FIT-SFC's globally stateful service on real guests (Figure 7's chain: one round-robin `lb`,
# answer=1, so the lb answers each 1024-byte request itself, from the backend it chose), f=1:
# four replicas each of classifier, SFF and lb, the lb replicas ordering what their voters
# decided by PBFT among themselves (vnfs/ft/fitsfc/pbft.c). Two runs under an open loop:
#  1. the primary of view 0 (lb replica 0) crashes: the others must change view and answer
#     every request, and the correct replicas must end with the same rotation (state digest);
#     the scheme's controller starts replica 0 again, which catches up on PBFT's log and the
#     view, and must end with that rotation too; and lb replica 3 sealing PBFT messages as
#     replica 0 (it holds the instance's key) is refused by replica 1;
#  2. a man-in-the-middle flips bytes in what lb replica 1 sends: its answers lose the SFF
#     replicas' votes, every request is answered right;
#  3. omissions, one per component at once: lb replica 2 loses half of what it sends (its PBFT
#     messages and its answers), SFF replica 1 all of it: every request answered right.
# A modest open loop (50/s): f=1 with PBFT per request is slow on a loaded 2-core host, and
# what is checked is answers, not speed. Verdicts from the stored results, counters and state
# digests, never from timings.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init flb
zero() { awk -v x="${1:-x}" 'BEGIN { exit !(x == "0" || x == "0.0") }'; }
positive() { awk -v x="${1:-0}" 'BEGIN { exit !(x + 0 > 0) }'; }
counter() {
    q "select max(value) from samples_view where run=$1 and metric='role_counter' and labels='{\"component\":\"$2\",\"counter\":\"$3\"}'"
}
# digest R [ROLE-ID]: the state digest of lb replica R of the kept instance (its rotation and
# counters), of the agent's role ROLE-ID (1: the first started there).
digest() {
    bin/sfclab -i "$inst" agent "v0r$1" export_vnf_state "{\"id\":${2:-1}}" 2>/dev/null \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])' 2>/dev/null
}

cat >"$tmp/lb.yaml" <<'YAML'
experiment: fitsfc-lb-crash
provider: netns
scheme: fitsfc
params: {f: 1}
chain:
  vnfs:
    - fn: lb
      params: {backends: "10.0.0.81@02:00:00:00:00:51,10.0.0.82@02:00:00:00:00:52,10.0.0.83@02:00:00:00:00:53", answer: "1"}
  rules: ["udp,dport=7"]
workload: {kind: dns, count: 400, size: 1024, rate: 50, timeout: 3s}
faults:
  - {kind: crash, target: "vnf[0].replica[0]", at: 2s}
warmup: 50
repetitions: 1
seed: 1
YAML

if run_experiment "$tmp/crash.log" "$tmp/lb.yaml" --keep; then
    r=$(q "select max(id) from runs where experiment='fitsfc-lb-crash' and status='complete'")
    n=$(q "select n from summaries where run=$r and metric='wrong_answer_ratio'")
    w=$(run_summary "$r" wrong_answer_ratio); l=$(run_summary "$r" timeout_ratio)
    [ "${n:-0}" -ge 400 ] && zero "$w" && zero "$l" \
        && ok "lb primary crashed: $n requests, wrong-answer ratio $w, timeout ratio $l" \
        || fail "lb primary crashed: n '$n', wrong-answer ratio '$w', timeout ratio '$l'"
    ordered=$(counter "$r" "vnf[0].replica[1]" ordered)
    positive "$ordered" && ok "lb replica 1 ran ${ordered%.*} requests in PBFT's order" \
        || fail "requests ordered by lb replica 1: '$ordered'"
    d1=$(digest 1); d2=$(digest 2); d3=$(digest 3)
    [ -n "$d1" ] && [ "$d1" = "$d2" ] && [ "$d2" = "$d3" ] \
        && ok "the 3 correct lb replicas hold the same rotation (state digest ${d1:0:16}...)" \
        || fail "lb replica state digests differ: '$d1' '$d2' '$d3'"
    rec=$(q "select count(*) from events where run=$r and kind='recovered' and target='vnf[0].replica[0]'")
    # The restarted replica is its agent's second role. It converges on its own (it fetches
    # what it lacks when its requests wait): its digest is read until it matches, 10 s at most.
    for _ in $(seq 20); do
        d0=$(digest 0 2)
        [ -n "$d0" ] && [ "$d0" = "$d1" ] && break
        sleep 0.5
    done
    [ "$rec" = 1 ] && [ -n "$d0" ] && [ "$d0" = "$d1" ] \
        && ok "lb replica 0 was started again and caught up: the same rotation" \
        || fail "lb replica 0 after its restart: recovered events '$rec', digest '$d0' (others '$d1')"
    notes=$(counter "$r" "vnf[0].replica[1]" order_notes)
    positive "$notes" && ok "lb replica 1 changed view (${notes%.*} PBFT notes)" \
        || fail "no view change noted by lb replica 1: '$notes'"
    # Every replica holds the instance's key, so lb replica 3 can seal a PBFT message as
    # replica 0; the switch makes it send with its own MAC, and replica 1 must refuse a message
    # whose sealed sender is not the frame's (order_impersonated), yet take one sealed as 3.
    mac() { python3 -c "import json, sys; d = json.load(open('/run/sfclab/$inst/instance.json')); print([f['mac'] for g in d['guests'] if g['name'] == sys.argv[1] for f in g['ifaces'] if f['bridge'] == 'data'][0])" "$1"; }
    stat1() { bin/sfclab -i "$inst" agent v0r1 stats '{"id":1}' | python3 -c "import json, sys; print(json.load(sys.stdin)['counters'].get(sys.argv[1], ''))" "$1"; }
    seal_as() { # FROM-REPLICA: 5 messages from v0r3 to v0r1, sealed as order replica FROM
        bin/sfclab -i "$inst" exec v0r3 python3 - "$1" "$(mac v0r1)" "$(mac v0r3)" "/run/sfclab/$inst/guests/v0r3/ft.key" <<'PY'
import hashlib, socket, struct, sys, time
frm, dst, src, keyfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
key = open(keyfile, 'rb').read()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth1", 0))
for i in range(5):
    payload = b'not a PBFT message'
    # ftstage's seal: "FTPM" from to seq kind(FT_EV_PEER_MSG = 2) 0 0 0 len payload tag
    msg = struct.pack('>4sIIQB3xI', b'FTPM', 0x10000 + frm, 0x10001, (1 << 62) + time.time_ns() + i, 2,
                      len(payload)) + payload
    tag = hashlib.blake2b(msg, key=key, digest_size=32).digest()   # crypto_generichash, keyed
    s.send(bytes.fromhex(dst.replace(':', '')) + bytes.fromhex(src.replace(':', '')) + b'\x88\xb5' + msg + tag)
PY
    }
    # Sealed as itself first, then as replica 0: one sender's frames keep their order through
    # the switch and the socket, so once the second five are counted the first five were
    # handled, and they must not have been counted.
    i0=$(stat1 order_impersonated); f0=$(stat1 order_forged)
    seal_as 3; seal_as 0
    for _ in $(seq 20); do
        i1=$(stat1 order_impersonated)
        [ -n "$i0" ] && [ -n "$i1" ] && [ "$((i1 - i0))" -ge 5 ] && break
        sleep 0.5
    done
    f1=$(stat1 order_forged)
    [ -n "$i0" ] && [ "$((i1 - i0))" = 5 ] && [ "$f1" = "$f0" ] \
        && ok "lb replica 3 sealing PBFT messages as replica 0 is refused, as itself not (impersonated $i0 -> $i1 for 5 of each)" \
        || fail "impersonation: impersonated '$i0' -> '$i1' (5 sealed as itself, 5 as replica 0), forged '$f0' -> '$f1'"
else
    fail "lb crash run: $(tail -5 "$tmp/crash.log")"
fi
bin/sfclab -i "$inst" down >/dev/null 2>&1

sed -e 's/^experiment: fitsfc-lb-crash/experiment: fitsfc-lb-flip/' \
    -e 's/{kind: crash, target: "vnf\[0\].replica\[0\]", at: 2s}/{kind: mitm, mode: flip, target: "vnf[0].replica[1]", at: 300ms}/' \
    "$tmp/lb.yaml" >"$tmp/flip.yaml"
if run_experiment "$tmp/flip.log" "$tmp/flip.yaml"; then
    r=$(q "select max(id) from runs where experiment='fitsfc-lb-flip' and status='complete'")
    n=$(q "select n from summaries where run=$r and metric='wrong_answer_ratio'")
    w=$(run_summary "$r" wrong_answer_ratio); l=$(run_summary "$r" timeout_ratio)
    [ "${n:-0}" -ge 400 ] && zero "$w" && zero "$l" \
        && ok "lb replica 1 lying: $n requests, wrong-answer ratio $w, timeout ratio $l" \
        || fail "lb replica 1 lying: n '$n', wrong-answer ratio '$w', timeout ratio '$l'"
    outvoted=0
    for k in 0 1 2 3; do
        c=$(counter "$r" "sff[0].replica[$k]" hop0_outvoted)
        outvoted=$((outvoted + ${c%.*}))
    done
    [ "$outvoted" -gt 0 ] && ok "the SFF replicas outvoted $outvoted flipped answers of lb replica 1" \
        || fail "flipped answers outvoted by the SFFs: $outvoted"
else
    fail "lb flip run: $(tail -5 "$tmp/flip.log")"
fi

sed -e 's/^experiment: fitsfc-lb-crash/experiment: fitsfc-lb-omission/' -e '/^faults:/,/^warmup/{/^warmup/!d}' \
    -e 's/^warmup: .*/warmup: 50\nfaults:\n  - {kind: omission, target: "vnf[0].replica[2]", fraction: 0.5, at: 300ms}\n  - {kind: omission, target: "sff[0].replica[1]", at: 300ms}/' \
    "$tmp/lb.yaml" >"$tmp/omit.yaml"
if run_experiment "$tmp/omit.log" "$tmp/omit.yaml"; then
    r=$(q "select max(id) from runs where experiment='fitsfc-lb-omission' and status='complete'")
    n=$(q "select n from summaries where run=$r and metric='wrong_answer_ratio'")
    w=$(run_summary "$r" wrong_answer_ratio); l=$(run_summary "$r" timeout_ratio)
    injected=$(q "select count(distinct target) from events where run=$r and kind='fault-injected'")
    [ "${n:-0}" -ge 400 ] && zero "$w" && zero "$l" && [ "$injected" = 2 ] \
        && ok "omissions on lb replica 2 (half) and SFF replica 1 (all): $n requests, wrong-answer ratio $w, timeout ratio $l" \
        || fail "omissions: n '$n', wrong-answer ratio '$w', timeout ratio '$l', faults injected '$injected'"
else
    fail "lb omission run: $(tail -5 "$tmp/omit.log")"
fi

echo "run-fitsfc-lb: $failures failure(s)"
[ "$failures" -eq 0 ]
