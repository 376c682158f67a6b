#!/usr/bin/env bash
# The first experiment end to end, as a user runs it (issues 3 and 4): `sfclab run` of
# experiments/baseline-dns.yaml on netns guests through the private OVS, a real `dig` through the
# chain, the history in SQLite, plots and the report from the database alone, and a runner
# killed with SIGKILL mid-sweep: intact database, run marked interrupted, and the next run
# completing the sweep without redoing what was complete.
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

# 1. A quick run that leaves the chain up, so a real client can ask it.
if $sfclab run experiments/baseline-dns.yaml --quick --keep >"$tmp/run1.log" 2>&1; then
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
bin/sfclab -i "$inst" down >/dev/null 2>&1 || fail "down after --keep"

complete=$(sqlite3 "$db" "select count(*) from runs where experiment='baseline-dns' and status='complete'")
[ "$complete" = 1 ] && ok "one complete run in the database" || fail "complete runs: $complete"
rtts=$(sqlite3 "$db" "select count(*) from samples_view where metric='rtt_us'")
[ "$rtts" -ge 300 ] && ok "$rtts RTT samples stored" || fail "only $rtts RTT samples stored"
mean=$(
      bin/sfclab --db "$db" report baseline-dns | grep -c "3.74 ms")
[ "$mean" -ge 1 ] && ok "report shows the published 3.74 ms beside ours" || fail "report lacks the reference"
bin/sfclab --db "$db" plot baseline-dns >"$tmp/plot.log" 2>&1
ls "$tmp"/plots/baseline-dns/*.png >/dev/null 2>&1 && ok "plots drawn from the database" \
    || fail "no plot: $(cat "$tmp/plot.log")"

# 2. Kill the runner mid-sweep, then resume.
$sfclab run experiments/baseline-dns.yaml --quick --set chain_len=1,2,4 >"$tmp/run2.log" 2>&1 &
runner=$!
for _ in $(seq 100); do
    grep -q '^\[3/3\]' "$tmp/run2.log" 2>/dev/null && break
    sleep 0.1
done
sleep 0.3
kill -9 "$runner" 2>/dev/null
wait "$runner" 2>/dev/null
bin/sfclab -i "$inst" clean >/dev/null 2>&1 || fail "clean after SIGKILL"
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

links_after=$(ip -o link | awk -F': ' '{print $2}' | sort)
[ "$links_before" = "$links_after" ] && ok "root namespace links unchanged" \
                                     || fail "root namespace links changed"
echo "run-baseline: $failures failure(s)"
[ "$failures" -eq 0 ]
