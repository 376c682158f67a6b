#!/usr/bin/env bash
# The first experiment end to end, as a user runs it (issues 3 and 4): `sfclab run` of
# experiments/baseline-dns.yaml on netns guests through the private OVS, a real `dig` through the
# chain, the history in SQLite, plots and the report from the database alone, and a runner
# killed with SIGKILL mid-sweep: intact database, run marked interrupted, and the next run
# completing the sweep without redoing what was complete. On a KVM guest whose idle driver is
# haltpoll, both runs take --halt-poll: set while the instance lives, written back by `down`
# and by `clean` after the SIGKILL.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

inst=sfct-run-$$
tmp=$(mktemp -d /tmp/sfct-run-XXXXXX)
db=$tmp/results.db
sfclab="bin/sfclab -i $inst --db $db"
failures=0

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
cleanup() {
    bin/sfclab -i "$inst" clean >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
links_before=$(ip -o link | awk -F': ' '{print $2}' | sort)
hp=/sys/module/haltpoll/parameters/guest_halt_poll_ns
halt_poll= hp_before=
if [ -w "$hp" ]; then
    hp_before=$(cat "$hp")
    halt_poll="--halt-poll $((hp_before / 1000 + 150))"
fi
# halt_poll_is WHAT VALUE: the host's halt polling reads VALUE.
halt_poll_is() {
    [ -n "$halt_poll" ] || return 0
    [ "$(cat "$hp")" = "$2" ] && ok "halt polling $1: $2 ns" || fail "halt polling $1: $(cat "$hp"), not $2"
}

# 1. A quick run that leaves the chain up, so a real client can ask it.
if $sfclab run experiments/baseline-dns.yaml --quick --keep $halt_poll >"$tmp/run1.log" 2>&1; then
    ok "run --quick"
else
    fail "run --quick: $(tail -5 "$tmp/run1.log")"
fi
grep -q "rtt: mean" "$tmp/run1.log" && ok "run printed its RTT" || fail "no RTT line"
answer=$(bin/sfclab -i "$inst" exec client dig +short +time=2 +tries=2 @10.0.0.250 \
         www.example.com 2>&1)
[ "$answer" = "10.0.0.80" ] && ok "dig through the chain: $answer" \
                            || fail "dig through the chain answered '$answer'"
nx=$(bin/sfclab -i "$inst" exec client dig +time=2 +tries=2 @10.0.0.250 nowhere.example.com \
     2>&1 | grep -c NXDOMAIN)
[ "$nx" -ge 1 ] && ok "dig of an unknown name: NXDOMAIN" || fail "no NXDOMAIN for an unknown name"
halt_poll_is "while the instance lives" "$(( (hp_before / 1000 + 150) * 1000 ))"
bin/sfclab -i "$inst" down >/dev/null 2>&1 || fail "down after --keep"
halt_poll_is "after down" "$hp_before"
if [ -n "$halt_poll" ]; then
    ev=$(sqlite3 "$db" "select detail from events where kind = 'halt-poll'")
    [ "$ev" = "$(( (hp_before / 1000 + 150) * 1000 )) ns" ] && ok "the run's halt-poll event: $ev" \
        || fail "the run's halt-poll event: '$ev'"
fi

complete=$(sqlite3 "$db" "select count(*) from runs where experiment='baseline-dns' and status='complete'")
[ "$complete" = 1 ] && ok "one complete run in the database" || fail "complete runs: $complete"
rtts=$(sqlite3 "$db" "select count(*) from samples_view where metric='rtt_us'")
[ "$rtts" -ge 300 ] && ok "$rtts RTT samples stored" || fail "only $rtts RTT samples stored"
. tests/system/report-lib.sh
report_check "$db" baseline-dns
# The "ours" cell is the stored summary (µs) in the reference's unit (ms), not a copied constant.
stored=$(sqlite3 "$db" "select printf('%.4g', mean / 1000.0) from summaries where metric='rtt_us' and labels=''")
ours=$(awk -F' [|] ' '/^[|] FIT-SFC non-replicated DNS chain/ { sub(/ ms$/, "", $4); print $4 }' \
       "$tmp/report-baseline-dns.md")
[ -n "$stored" ] && [ "$(awk -v a="$ours" -v b="$stored" 'BEGIN { print (a + 0 == b + 0) }')" = 1 ] \
    && ok "report's ours ($ours ms) is the stored rtt_us summary ($stored ms)" \
    || fail "report's ours '$ours' is not the stored summary '$stored'"
grep -q '| 3.74 ms | derived |' "$tmp/report-baseline-dns.md" \
    && ok "report marks 3.74 ms as derived" || fail "3.74 ms not shown as derived"
# Every answer ratio is stored on a run with requests, a perfect one included.
for m in wrong_answer_ratio forged_answer_ratio corrupted_answer_ratio error_answer_ratio timeout_ratio; do
    v=$(sqlite3 "$db" "select mean from summaries where metric='$m' and n >= 300")
    [ -n "$v" ] && ok "$m stored ($v)" || fail "$m not stored"
done
variant=$(sqlite3 "$db" "select json_extract(params, '$.variant') from runs where experiment='baseline-dns'")
[ "$variant" = quick ] && ok "the run records it was --quick" || fail "variant recorded: '$variant'"
bin/sfclab --db "$db" plot baseline-dns >"$tmp/plot.log" 2>&1
ls "$tmp"/plots/baseline-dns/*.png >/dev/null 2>&1 && ok "plots drawn from the database" \
    || fail "no plot: $(cat "$tmp/plot.log")"

# 2. Kill the runner mid-sweep, then resume.
$sfclab run experiments/baseline-dns.yaml --quick --set chain_len=1,2,4 $halt_poll >"$tmp/run2.log" 2>&1 &
runner=$!
for _ in $(seq 100); do
    grep -q '^\[3/3\]' "$tmp/run2.log" 2>/dev/null && break
    sleep 0.1
done
sleep 0.3
kill -9 "$runner" 2>/dev/null
wait "$runner" 2>/dev/null
bin/sfclab -i "$inst" clean >/dev/null 2>&1 || fail "clean after SIGKILL"
halt_poll_is "after SIGKILL and clean" "$hp_before"
[ ! -e "/run/netns/sfclab-$inst" ] && ok "nothing left after SIGKILL + clean" \
                                    || fail "namespace left after clean"
integrity=$(sqlite3 "$db" "pragma integrity_check")
[ "$integrity" = ok ] && ok "integrity_check after SIGKILL" || fail "integrity: $integrity"
$sfclab runs >"$tmp/runs.log" 2>&1
grep -q interrupted "$tmp/runs.log" && ok "the killed run shows as interrupted" \
    || fail "no interrupted run: $(cat "$tmp/runs.log")"
$sfclab run experiments/baseline-dns.yaml --quick --set chain_len=1,2,4 >"$tmp/run3.log" 2>&1 \
    || fail "resumed run: $(tail -5 "$tmp/run3.log")"
skipped=$(grep -c "already complete" "$tmp/run3.log")
[ "$skipped" -ge 1 ] && ok "resume skipped $skipped complete point(s)" || fail "resume redid everything"
for len in 1 2 4; do
    n=$(sqlite3 "$db" "select count(*) from runs where status='complete' and point='{\"chain_len\":$len}'")
    [ "$n" -ge 1 ] && ok "chain_len=$len complete" || fail "chain_len=$len not complete"
done

# 3. Variants: a --set that changes the run is not the point the file describes, and a full
# run is never skipped for a quick one; report shows one variant and says which.
$sfclab run experiments/baseline-dns.yaml --quick --set workload.count=120 >"$tmp/run4.log" 2>&1 \
    || fail "run --set: $(tail -5 "$tmp/run4.log")"
grep -q "already complete" "$tmp/run4.log" && fail "a --set run was taken as the quick point" \
    || ok "a --set run is not skipped for the quick point"
v=$(sqlite3 "$db" "select json_extract(params, '$.variant') from runs order by id desc limit 1")
[ "$v" = "quick --set workload.count=120" ] && ok "variant recorded: $v" || fail "variant: '$v'"
bin/sfclab --db "$db" report baseline-dns >"$tmp/report-set.md" 2>&1
grep -q 'Runs shown: 1 complete run of variant `quick --set workload.count=120`' "$tmp/report-set.md" \
    && grep -q 'Not pooled with them: [0-9]* complete runs* of other variants (quick: ' "$tmp/report-set.md" \
    && ok "report shows one variant and names the others" \
    || fail "report pools or hides variants: $(grep 'Runs shown' "$tmp/report-set.md")"
$sfclab run experiments/baseline-dns.yaml >"$tmp/run5.log" 2>&1 || fail "full run: $(tail -5 "$tmp/run5.log")"
grep -q "already complete" "$tmp/run5.log" && fail "a full run was skipped for a quick one" \
    || ok "a full run is not skipped for the quick runs"
v=$(sqlite3 "$db" "select json_extract(params, '$.variant') from runs order by id desc limit 1")
[ "$v" = full ] && ok "variant recorded: $v" || fail "variant: '$v'"
report_check "$db" baseline-dns
grep -q 'Runs shown: 1 complete run of variant `full`.' "$tmp/report-baseline-dns.md" \
    && ok "report shows the full run alone" || fail "report after the full run: $(grep 'Runs shown' "$tmp/report-baseline-dns.md")"

links_after=$(ip -o link | awk -F': ' '{print $2}' | sort)
[ "$links_before" = "$links_after" ] && ok "root namespace links unchanged" \
                                     || fail "root namespace links changed"
echo "run-baseline: $failures failure(s)"
[ "$failures" -eq 0 ]
