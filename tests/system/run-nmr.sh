#!/usr/bin/env bash
# Scheme nmr (N-modular redundancy, f=1) on real guests through `sfclab run`: a byte-flipping
# man-in-the-middle on replica 1 of each VNF, then a crash of replica 0 of each VNF, and every
# DNS query is still answered, and answered right (experiments/nmr-dns.yaml --quick). The same
# faults on the chain without fault tolerance (scheme none, the same chain and workload) spoil
# or lose answers. Both verdicts come from the summaries stored in SQLite, not from log text.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init nmr

# --- nmr, f=1
run_experiment "$tmp/nmr.log" experiments/nmr-dns.yaml --quick --keep \
    || fail "nmr run: $(tail -5 "$tmp/nmr.log")"

# Peer messages on the real bridge: one sealed with the instance's key is taken, the same again
# is a replay, another key or a flipped byte a forgery; the SFF's counters say which it saw.
dir=/run/sfclab/$inst
key=$dir/guests/sff/ft.key
mode=$(stat -c %a "$key" 2>/dev/null)
[ "$mode" = 600 ] && ok "the instance key is readable by its owner only ($key, mode $mode)" \
    || fail "instance key mode '$mode'"
sff_mac=$(bin/sfclab -i "$inst" exec sff ip -br link show eth1 2>/dev/null | awk '{print $3}')
# From the client guest's network namespace only: guests see neither the repository nor
# another guest's key, which this test, playing the instance's own sender, must read. A netns
# guest's handle is "PID STARTTIME".
client_pid=$(python3 -c 'import json,sys; print([g for g in json.load(open(sys.argv[1]))["guests"]
    if g["name"] == "client"][0]["handle"].split()[0])' "$dir/instance.json")
nsenter -t "$client_pid" -n python3 "$PWD/tests/system/ft-peer.py" eth1 "$sff_mac" "$key" 0x1ff 0x100 \
    || fail "could not send peer messages"
sleep 0.3
sock=$(ls "$dir"/guests/sff/role-*.sock 2>/dev/null | head -1)
stats=$(python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stats\"}\n"); print(s.makefile().readline())' "$sock" 2>&1)
peer() { echo "$stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['result']['counters'].get('hop0_peer_$1'))"; }
[ "$(peer ok)" = 1 ] && [ "$(peer replayed)" = 1 ] && [ "$(peer forged)" = 2 ] \
    && ok "the SFF took 1 sealed peer message and dropped 1 replay and 2 forgeries" \
    || fail "peer messages: ok=$(peer ok) replayed=$(peer replayed) forged=$(peer forged) ($stats)"
bin/sfclab -i "$inst" down >/dev/null 2>&1 || fail "down after --keep"
run=$(q "select max(id) from runs where experiment='nmr-dns' and status='complete'")
if [ -z "$run" ]; then
    fail "no complete nmr-dns run"; cat "$tmp/nmr.log"
else
    [ "$(q "select scheme from runs where id=$run")" = nmr ] && ok "run $run recorded as scheme nmr" \
        || fail "scheme of run $run"
    injected=$(q "select count(*) from events e where run=$run and kind='fault-injected' and t_ns >
                  (select t_ns from events where run=$run and kind='phase-start' and detail='workload')
                  and t_ns < (select t_ns from events where run=$run and kind='phase-end')")
    [ "$injected" = 4 ] && ok "4 faults injected during the workload (2 flips, 2 crashes)" \
        || fail "faults injected during the workload: $injected"
    wrong=$(run_summary "$run" wrong_answer_ratio)
    lost=$(run_summary "$run" timeout_ratio)
    n=$(q "select n from summaries where run=$run and metric='wrong_answer_ratio'")
    [ "$wrong" = 0 ] || [ "$wrong" = 0.0 ] && ok "nmr: wrong-answer ratio 0 over $n queries" \
        || fail "nmr: wrong-answer ratio '$wrong'"
    [ "$lost" = 0 ] || [ "$lost" = 0.0 ] && ok "nmr: every query answered (timeout ratio 0)" \
        || fail "nmr: timeout ratio '$lost'"
    answered=$(q "select count(*) from samples_view where run=$run and metric='rtt_us' and labels like '%\"ok\"%'")
    sent=$(q "select json_extract(params, '$.workload.count') + json_extract(params, '$.warmup') from runs where id=$run")
    [ -n "$sent" ] && [ "$answered" = "$sent" ] && [ "$n" = "$sent" ] \
        && ok "nmr: $answered of $sent queries answered right" \
        || fail "nmr: $answered of $sent queries answered right ($n in the summary)"
    counter() { q "select value from samples_view where run=$run and metric='role_counter' and labels='{\"component\":\"$1\",\"counter\":\"$2\"}' order by t_ns desc limit 1"; }
    voted=$(counter 'sff[0]' voted)
    copies=$(counter 'sff[0]' copies_in)
    [ "${voted%.*}" = $((2 * sent)) ] && ok "the SFF's voters decided $((2 * sent)) times (2 VNFs x $sent queries), from $copies copies" \
        || fail "the SFF's voters decided '$voted' times"
    replicas=$(q "select count(distinct labels) from samples_view where run=$run and metric='hop_us' and labels like '%replica%'")
    [ "$replicas" = 6 ] && ok "hop timestamps of all 6 replicas, labelled vnf[N].replica[M]" \
        || fail "replica hop labels: $replicas"
fi

# --- none, the same chain, workload and faults on its only replica of each VNF
sed -e 's/^experiment: nmr-dns/experiment: nmr-dns-none/' -e 's/^scheme: nmr/scheme: none/' \
    -e '/^params:/d' -e 's/\.replica\[[0-9]\]//g' experiments/nmr-dns.yaml >"$tmp/none.yaml"
run_experiment "$tmp/none.log" "$tmp/none.yaml" --quick \
    || fail "none run: $(tail -5 "$tmp/none.log")"
run=$(q "select max(id) from runs where experiment='nmr-dns-none' and status='complete'")
if [ -z "$run" ]; then
    fail "no complete run of scheme none"; cat "$tmp/none.log"
else
    wrong=$(run_summary "$run" wrong_answer_ratio)
    lost=$(run_summary "$run" timeout_ratio)
    awk -v w="${wrong:-0}" -v l="${lost:-0}" 'BEGIN { exit !(w + l > 0) }' \
        && ok "none under the same faults: wrong-answer ratio $wrong, timeout ratio $lost" \
        || fail "none under the same faults answered everything right ($wrong, $lost)"
    awk -v l="${lost:-0}" 'BEGIN { exit !(l > 0) }' \
        && ok "none loses the queries sent after its VNFs crash (timeout ratio $lost)" \
        || fail "none: timeout ratio $lost after a crash of its only VNFs"
fi

# --- refused before anything is created: every known scheme deploys now, so a name the
# registry does not know (pbft is FIT-SFC's ordering protocol, not a scheme)
printf 'experiment: unknown\nscheme: pbft\nchain: {vnfs: [{fn: fwd}], rules: ["udp"]}\nworkload: {kind: udp, count: 1}\n' \
    >"$tmp/unknown.yaml"
bin/sfclab -i "$inst" --db "$tmp/unknown.db" run "$tmp/unknown.yaml" >"$tmp/unknown.log" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -q "unknown scheme 'pbft'" "$tmp/unknown.log" && [ ! -e "$tmp/unknown.db" ] \
    && ok "an unknown scheme refused with exit 2 before anything was created" \
    || fail "pbft: exit $rc: $(cat "$tmp/unknown.log")"

echo "run-nmr: $failures failure(s)"
[ "$failures" -eq 0 ]
