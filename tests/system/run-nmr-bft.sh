#!/usr/bin/env bash
# FIT-SFC's voter on real guests (experiments/nmr-bft-dns.yaml --quick: scheme nmr with
# `voter: bft`, the DNS VNF 4 times, 2f+1 = 3 identical answers needed, f=1). Scenario `one`,
# dns-spoof on one replica: every query answered, none wrongly. Scenario `two`, two replicas
# spoofing (more than f): queries halt (time out), none is answered wrongly. Scheme none under
# the same spoof on its only DNS accepts forged answers. Verdicts from the stored summaries.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init nb
zero() { awk -v x="${1:-x}" 'BEGIN { exit !(x == "0" || x == "0.0") }'; }
positive() { awk -v x="${1:-0}" 'BEGIN { exit !(x + 0 > 0) }'; }
point_run() { q "select max(id) from runs where experiment='$1' and status='complete' and json_extract(point, '$.scenario')='$2'"; }

run_experiment "$tmp/bft.log" experiments/nmr-bft-dns.yaml --quick || fail "bft run: $(tail -5 "$tmp/bft.log")"
one=$(point_run nmr-bft-dns one)
two=$(point_run nmr-bft-dns two)
if [ -z "$one" ] || [ -z "$two" ]; then
    fail "runs of scenarios one and two: '$one' '$two'"; tail -20 "$tmp/bft.log"
else
    n=$(q "select n from summaries where run=$one and metric='wrong_answer_ratio'")
    w=$(run_summary "$one" wrong_answer_ratio); l=$(run_summary "$one" timeout_ratio)
    zero "$w" && zero "$l" && ok "one replica spoofing: $n queries, wrong-answer ratio $w, timeout ratio $l" \
        || fail "one replica spoofing: wrong-answer ratio '$w', timeout ratio '$l'"
    replicas=$(q "select count(distinct labels) from samples_view where run=$one and metric='hop_us' and labels like '%replica%'")
    [ "$replicas" = 4 ] && ok "4 replicas (3f+1) answered, labelled vnf[0].replica[M]" \
        || fail "replica hop labels: $replicas"
    injected=$(q "select count(*) from events where run=$two and kind='fault-injected'")
    w=$(run_summary "$two" wrong_answer_ratio); l=$(run_summary "$two" timeout_ratio)
    [ "$injected" = 2 ] && zero "$w" && positive "$l" \
        && ok "two replicas spoofing (> f): no wrong answer ($w), halted queries time out ($l)" \
        || fail "two replicas spoofing: $injected faults, wrong-answer ratio '$w', timeout ratio '$l'"
    counter() { q "select max(value) from samples_view where run=$1 and metric='role_counter' and labels='{\"component\":\"sff[0]\",\"counter\":\"$2\"}'"; }
    halted=$(counter "$two" hop0_no_quorum); overload=$(counter "$two" hop0_overload)
    positive "$halted" && [ -n "$overload" ] \
        && ok "the SFF's voter recorded $halted halted queries and ${overload%.*} overload drops in the history" \
        || fail "halts in the history: no_quorum '$halted', overload '$overload'"
fi

# --- none, the same chain, workload and spoof on its only DNS
sed -e 's/^experiment: nmr-bft-dns/experiment: nmr-bft-dns-none/' -e 's/^scheme: nmr/scheme: none/' \
    -e '/^params:/d' -e 's/\.replica\[[0-9]\]//g' experiments/nmr-bft-dns.yaml >"$tmp/none.yaml"
run_experiment "$tmp/none.log" "$tmp/none.yaml" --quick --set scenario=one \
    || fail "none run: $(tail -5 "$tmp/none.log")"
run=$(q "select max(id) from runs where experiment='nmr-bft-dns-none' and status='complete'")
w=$(run_summary "${run:-0}" wrong_answer_ratio)
positive "$w" && ok "none under the same spoof accepts forged answers (wrong-answer ratio $w)" \
    || fail "none under the spoof: wrong-answer ratio '$w' (run '$run')"

echo "run-nmr-bft: $failures failure(s)"
[ "$failures" -eq 0 ]
