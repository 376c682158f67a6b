#!/usr/bin/env bash
# Issue 5 on the chain with no fault tolerance, through `sfclab run`: a man-in-the-middle that
# spoofs the DNS VNF's answers makes the client accept forged A records while it lasts (as many
# as the fault's fraction of the probes in its window, none outside it), and a crash (every
# link of the VNF cut) makes the probe stream's availability drop by the downtime.
# Both leave fault-injected and healed events in the history and draw a time series.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init faults
. tests/system/report-lib.sh

# Half the answers spoofed while the attacker is in the path: the count must follow the fraction.
fraction=0.5
bin/sfclab -i "$inst" --db "$db" run experiments/baseline-dns-spoof.yaml --quick \
    --set faults.0.fraction=$fraction >"$tmp/spoof.log" 2>&1 \
    || fail "spoof run: $(tail -5 "$tmp/spoof.log")"
run=$(q "select max(id) from runs where experiment='baseline-dns-spoof' and status='complete'")
t_on=$(q "select t_ns from events where run=$run and kind='fault-injected'")
t_off=$(q "select t_ns from events where run=$run and kind='healed'")
forged=$(q "select count(*) from samples_view where run=$run and metric='answer_forged'")
# Probes of the window that got an answer at all: on a loaded machine some time out, and a
# probe that timed out can be neither forged nor true.
in_window=$(q "select (select count(*) from samples_view where run=$run and metric='probe_ok' and t_ns >= $t_on and t_ns < $t_off)
                    - (select count(*) from samples_view where run=$run and metric='answer_timeout' and t_ns >= $t_on and t_ns < $t_off)")
outside=$(q "select count(*) from samples_view where run=$run and metric='answer_forged' and (t_ns < $t_on - 50000000 or t_ns >= $t_off + 50000000)")
# Expected: fraction x the probes answered while the attacker was in the path. Tolerance: three
# standard deviations of that binomial count (the attacker draws per frame), plus 5% of the
# window's probes and 2 (its rules take effect a few ms after the fault-injected event, and a
# probe sent just before the heal may be answered after it); and no forged answer more than
# 50 ms outside the window.
expect=$(awk -v f="$fraction" -v n="$in_window" 'BEGIN { printf "%d", f * n + 0.5 }')
tol=$(awk -v f="$fraction" -v n="$in_window" 'BEGIN { printf "%d", 3 * sqrt(n * f * (1 - f)) + 0.05 * n + 2 }')
[ "$in_window" -ge 20 ] && [ "$forged" -ge $((expect - tol)) ] && [ "$forged" -le $((expect + tol)) ] \
    && [ "$outside" = 0 ] \
    && ok "forged answers $forged, expected $expect ± $tol (fraction $fraction x $in_window answered probes in the window), none outside it" \
    || fail "forged answers $forged, expected $expect ± $tol (fraction $fraction x $in_window answered probes in the window), $outside outside it"
ratio=$(q "select mean from summaries where run=$run and metric='forged_answer_ratio'")
probes=$(q "select count(*) from samples_view where run=$run and metric='probe_ok'")
awk -v r="$ratio" -v f="$forged" -v n="$probes" 'BEGIN { exit !(n > 0 && (r - f / n) ^ 2 < 1e-12) }' \
    && ok "forged_answer_ratio $ratio = $forged / $probes" || fail "forged_answer_ratio $ratio, counted $forged / $probes"
events=$(q "select group_concat(kind) from events where run=$run and kind in ('fault-injected','healed')")
[ "$events" = "fault-injected,healed" ] && ok "spoof injected and healed in the history" \
    || fail "events: $events"
ls "$tmp"/plots/baseline-dns-spoof/run-"$run"-probe_ok.png >/dev/null 2>&1 \
    && ok "time series with the fault window drawn" || fail "no time series plot"

bin/sfclab -i "$inst" --db "$db" run experiments/baseline-crash-availability.yaml --quick >"$tmp/crash.log" 2>&1 \
    || fail "crash run: $(tail -5 "$tmp/crash.log")"
run=$(q "select max(id) from runs where experiment='baseline-crash-availability' and status='complete'")
avail=$(q "select mean from summaries where run=$run and metric='availability_ratio'")
injected=$(q "select t_ns from events where run=$run and kind='fault-injected'")
healed=$(q "select t_ns from events where run=$run and kind='healed'")
first=$(q "select min(t_ns) from samples_view where run=$run and metric='probe_ok'")
last=$(q "select max(t_ns) from samples_view where run=$run and metric='probe_ok'")
down=$(awk -v a="$injected" -v b="$healed" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
awk -v d="$down" 'BEGIN { exit !(d > 0.9 && d < 1.5) }' && ok "fault window $down s" || fail "fault window $down s"
# Expected: the fault costs its window and no more. Outside it (and the 0.5 s after the heal
# that the switch takes to relearn) the probe stream answers a share A_out of probes (1 on an
# idle machine, less when it is loaded and probes time out); the run's availability must be
# A_out x (1 - the fault window / the probed time), within +0.03 / -0.08.
a_out=$(q "select avg(value) from samples_view where run=$run and metric='probe_ok' and (t_ns < $injected or t_ns >= $healed + 500000000)")
expect=$(awk -v a="$injected" -v b="$healed" -v f="$first" -v l="$last" -v o="$a_out" \
         'BEGIN { printf "%.4f", o * (1 - (b - a) / (l - f + 1e7)) }')
awk -v a="$avail" -v e="$expect" 'BEGIN { exit !(a != "" && a - e <= 0.03 && e - a <= 0.08) }' \
    && ok "availability $avail, expected $expect (+0.03/-0.08; $a_out outside the fault x (1 - $down s down / the probed time))" \
    || fail "availability $avail, expected $expect (+0.03/-0.08; $a_out outside the fault, $down s down)"
report_check "$db" baseline-crash-availability

# count: 2 with random(vnf) on a chain of 2 crashes both VNFs, never one twice; count: 3 is
# refused before anything runs.
bin/sfclab -i "$inst" --db "$db" run experiments/baseline-crash-availability.yaml --quick \
    --set chain.fill.fn=fwd --set chain_len=2 --set 'faults.0.target=random(vnf)' \
    --set faults.0.count=2 >"$tmp/count.log" 2>&1 || fail "count 2 run: $(tail -5 "$tmp/count.log")"
run=$(q "select max(id) from runs where experiment='baseline-crash-availability' and status='complete'")
hit=$(q "select group_concat(target, ' ') from (select target from events where run=$run and kind='fault-injected' order by target)")
[ "$hit" = "vnf[0] vnf[1]" ] && ok "count 2 of random(vnf) hit two distinct VNFs ($hit)" \
    || fail "count 2 of random(vnf) hit: '$hit'"
before=$(q "select count(*) from runs")
bin/sfclab -i "$inst" --db "$db" run experiments/baseline-crash-availability.yaml --quick \
    --set chain.fill.fn=fwd --set chain_len=2 --set 'faults.0.target=random(vnf)' \
    --set faults.0.count=3 >"$tmp/count3.log" 2>&1; rc=$?
after=$(q "select count(*) from runs")
[ "$rc" = 2 ] && [ "$before" = "$after" ] && grep -q "random(vnf) has 2 distinct vnf components" "$tmp/count3.log" \
    && ok "count 3 on a chain of 2 refused before any run row" \
    || fail "count 3 on a chain of 2: exit $rc, runs $before -> $after: $(head -2 "$tmp/count3.log")"

echo "run-faults: $failures failure(s)"
[ "$failures" -eq 0 ]
