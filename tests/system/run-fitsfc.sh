#!/usr/bin/env bash
# FIT-SFC on real guests (scheme fitsfc, f=1: 4 classifiers, 4 SFFs, 4 DNS replicas, the client's
# wrapper accepting f+1 identical replies). Under load (an open loop of DNS queries), one fault
# per component at once: a crash of one DNS replica, a man-in-the-middle spoofing the A record
# in what one SFF replica sends, and one flipping bytes in what one classifier replica sends.
# Every query must be answered and none wrongly; the stored counters must show the spoofed and
# flipped copies reached the voters and lost (outvoted); scheme none under the same spoof on its
# only SFF must accept forged answers. A client whose copies to the classifiers differ gets its
# requests halted by every SFF replica, never answered wrongly. Then dig, unmodified, asks through the wrapper of a chain
# kept up, and a replica that sends frames with another replica's MAC finds them dropped by the
# switch. Verdicts from the stored results and counters, never from timings.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init fs
run() { run_experiment "$@"; }
summary() { run_summary "$@"; }
zero() { awk -v x="${1:-x}" 'BEGIN { exit !(x == "0" || x == "0.0") }'; }
positive() { awk -v x="${1:-0}" 'BEGIN { exit !(x + 0 > 0) }'; }
counter() {
    q "select max(value) from samples_view where run=$1 and metric='role_counter' and labels='{\"component\":\"$2\",\"counter\":\"$3\"}'"
}

cat >"$tmp/fitsfc.yaml" <<'YAML'
experiment: fitsfc-faults
provider: netns
scheme: fitsfc
params: {f: 1}
chain:
  vnfs:
    - fn: dns
      params: {zone: "www.example.com=10.0.0.80"}
  rules: ["udp,dport=53"]
workload: {kind: dns, count: 1500, size: 512, rate: 300, timeout: 2s}
faults:
  - {kind: crash, target: "vnf[0].replica[3]", at: 300ms}
  - {kind: mitm, mode: dns-spoof, target: "sff[0].replica[2]", at: 300ms}
  - {kind: mitm, mode: flip, target: "classifier[0].replica[1]", at: 300ms}
warmup: 50
repetitions: 1
seed: 1
YAML

run "$tmp/fitsfc.log" "$tmp/fitsfc.yaml" || fail "fitsfc run: $(tail -5 "$tmp/fitsfc.log")"
r=$(q "select max(id) from runs where experiment='fitsfc-faults' and status='complete'")
if [ -z "$r" ]; then
    fail "no complete fitsfc run"; tail -20 "$tmp/fitsfc.log"
else
    n=$(q "select n from summaries where run=$r and metric='wrong_answer_ratio'")
    w=$(summary "$r" wrong_answer_ratio); l=$(summary "$r" timeout_ratio)
    [ "${n:-0}" -ge 1500 ] && zero "$w" && zero "$l" \
        && ok "crash + spoof + flip, one per component: $n queries, wrong-answer ratio $w, timeout ratio $l" \
        || fail "under faults: n '$n', wrong-answer ratio '$w', timeout ratio '$l'"
    injected=$(q "select count(distinct target) from events where run=$r and kind='fault-injected'")
    [ "$injected" = 3 ] && ok "3 faults injected" || fail "faults injected: '$injected'"
    comps=$(q "select count(distinct json_extract(labels, '$.component')) from samples_view where run=$r and metric='hop_us' and labels like '%replica%'")
    [ "$comps" = 12 ] && ok "12 replicas (3f+1 each of classifier, SFF, DNS) traced their hops" \
        || fail "replicas traced: '$comps'"
    spoofed=$(counter "$r" "wrapper[0]" vote_outvoted)
    flipped=0
    for k in 0 1 2 3; do
        c=$(counter "$r" "sff[0].replica[$k]" entry_outvoted)
        flipped=$((flipped + ${c%.*}))
    done
    # The wrapper's voter keeps each decided digest, so a spoofed reply is outvoted whether it
    # comes before the decision or after it (the attacker's detour makes most of them late).
    positive "$spoofed" && ok "the wrapper outvoted ${spoofed%.*} spoofed replies of the SFF replica" \
        || fail "spoofed replies seen by the wrapper: '$spoofed' (late copies: $(counter "$r" "wrapper[0]" vote_late_copies))"
    positive "$flipped" && ok "the SFF replicas outvoted $flipped flipped requests of the classifier replica" \
        || fail "flipped requests seen by the SFFs: '$flipped'"
    accepted=$(counter "$r" "wrapper[0]" accepted)
    [ "${accepted%.*}" -ge 1500 ] 2>/dev/null && ok "the wrapper accepted ${accepted%.*} replies (f+1 identical each)" \
        || fail "replies accepted by the wrapper: '$accepted'"
fi

# --- none, the same chain and workload, the same spoof on its only SFF: forged answers.
sed -e 's/^experiment: fitsfc-faults/experiment: fitsfc-faults-none/' -e 's/^scheme: fitsfc/scheme: none/' \
    -e '/^params:/d' -e '/crash/d' -e '/flip/d' -e 's/\.replica\[[0-9]\]//g' \
    "$tmp/fitsfc.yaml" >"$tmp/none.yaml"
run "$tmp/none.log" "$tmp/none.yaml" || fail "none run: $(tail -5 "$tmp/none.log")"
r=$(q "select max(id) from runs where experiment='fitsfc-faults-none' and status='complete'")
w=$(summary "${r:-0}" wrong_answer_ratio)
positive "$w" && ok "none under the same spoof accepts forged answers (wrong-answer ratio $w)" \
    || fail "none under the spoof: wrong-answer ratio '$w' (run '$r')"

# --- a malicious client (Figure 2's kind): from 500 ms on, what the client sends each
# classifier is altered differently (one random byte flipped per copy). No SFF replica finds
# 2f+1 identical copies, so every correct one halts those requests rather than decide: no
# answer is wrong, the altered ones time out, and every SFF replica counts halts.
sed -e 's/^experiment: fitsfc-faults/experiment: fitsfc-evil-client/' -e '/^faults:/,/^warmup/{/^warmup/!d}' \
    -e 's/^workload: .*/workload: {kind: dns, count: 150, size: 512, rate: 100, timeout: 1s}/' \
    -e 's/^warmup: .*/warmup: 10\nfaults:\n  - {kind: mitm, mode: flip, target: "client[0]", at: 500ms}/' \
    "$tmp/fitsfc.yaml" >"$tmp/evil.yaml"
run "$tmp/evil.log" "$tmp/evil.yaml" || fail "malicious client run: $(tail -5 "$tmp/evil.log")"
r=$(q "select max(id) from runs where experiment='fitsfc-evil-client' and status='complete'")
w=$(summary "${r:-0}" wrong_answer_ratio); l=$(summary "${r:-0}" timeout_ratio)
halting=0
for k in 0 1 2 3; do
    c=$(counter "${r:-0}" "sff[0].replica[$k]" entry_no_quorum)
    positive "$c" && halting=$((halting + 1))
done
zero "$w" && positive "$l" && [ "$halting" = 4 ] \
    && ok "malicious client: no wrong answer ($w), altered requests halted (timeout ratio $l) by all 4 SFF replicas" \
    || fail "malicious client: wrong-answer ratio '$w', timeout ratio '$l', SFF replicas halting: $halting"

# --- an unmodified client through the wrapper: dig asks the service address of a kept chain.
sed -e 's/^experiment: fitsfc-faults/experiment: fitsfc-dig/' -e '/^faults:/,/^warmup/{/^warmup/!d}' \
    -e "s/count: 1500/count: 100/" "$tmp/fitsfc.yaml" >"$tmp/dig.yaml"
if run "$tmp/dig.log" "$tmp/dig.yaml" --keep; then
    answer=$(bin/sfclab -i "$inst" exec client dig +short +tries=2 +time=2 @10.0.0.250 www.example.com 2>&1)
    [ "$answer" = 10.0.0.80 ] && ok "dig through the wrapper: www.example.com is $answer" \
        || fail "dig through the wrapper answered '$answer'"
    # A replica cannot send as another (the voters count senders by MAC): frames from sffr3
    # claiming sffr0's MAC never reach the client; with its own MAC they do. The wrapper counts
    # what reaches it that is not NSH as 'ignored'.
    mac() { python3 -c "import json, sys; d = json.load(open('/run/sfclab/$inst/instance.json')); print([f['mac'] for g in d['guests'] if g['name'] == sys.argv[1] for f in g['ifaces'] if f['bridge'] == 'data'][0])" "$1"; }
    ignored() { bin/sfclab -i "$inst" agent client stats '{"id":1}' | python3 -c "import json, sys; print(json.load(sys.stdin)['counters']['ignored'])"; }
    send_as() { # GUEST SRC-MAC: 20 frames to the client
        bin/sfclab -i "$inst" exec "$1" python3 - "$2" "$(mac client)" <<'PY'
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth1", 0))
frame = bytes.fromhex(sys.argv[2].replace(':', '')) + bytes.fromhex(sys.argv[1].replace(':', '')) + b'\x12\x34' + b'x' * 46
for _ in range(20):
    s.send(frame)
PY
    }
    i0=$(ignored); send_as sffr3 "$(mac sffr0)"; sleep 1; i1=$(ignored)
    send_as sffr3 "$(mac sffr3)"; sleep 1; i2=$(ignored)
    # Fewer than 5 of the 20 forged frames: the wrapper also ignores the odd ARP or IPv6
    # frame of the guests' own stacks, which may land in either window.
    [ -n "$i0" ] && [ "$((i1 - i0))" -lt 5 ] && [ "$((i2 - i1))" -ge 20 ] \
        && ok "a replica sending as another is dropped by the switch (ignored $i0 -> $i1), as itself delivered (-> $i2)" \
        || fail "anti-spoofing: ignored '$i0' -> '$i1' (forged source) -> '$i2' (own source)"
else
    fail "kept run for dig: $(tail -5 "$tmp/dig.log")"
fi
bin/sfclab -i "$inst" down >/dev/null 2>&1

echo "run-fitsfc: $failures failure(s)"
[ "$failures" -eq 0 ]
