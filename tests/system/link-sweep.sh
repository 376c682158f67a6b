#!/usr/bin/env bash
# experiments/link-sweep.yaml through `sfclab run` (issue 17): the baseline DNS chain with every
# data link delayed by 0, 1 and 5 ms in each direction. A query and its answer cross 10 delayed
# links (client -> classifier -> SFF -> dns VNF -> SFF -> client, two links per hop), so each
# point's RTT must exceed the undelayed point's by 10 x delay, within 10% of that.
# The statistic is the p50 of each point's answered RTTs, the undelayed p50 measured in the
# same sweep: the median is what an emulated delay shifts, while the mean also carries the
# host's scheduling stalls of guests that share a CPU with everyone else (tens of ms on a
# loaded host, and as likely at 0 ms as at 5 ms). The mean is printed beside it, not checked.
# What makes 10% hold on a loaded host is the switch's PMD at real-time priority with
# pmd-maxsleep (testbed/infra/instance.c, `sfclab run --pmd-sleep`), and the link stage's own
# real-time priority (vnfs/sfc/link.c): busy-polled, each switch traversal waited for the PMD's
# next time slice (4.7 ms on average at load 14), which put the 1 ms point at 26 ms, not 11.
# And the stage's early wake-up (struct link_timer): this host's timer wakes a sleeper 60 us late
# even when idle, 0.1-0.15 ms on CI's load, which put the 1 ms point 11.09 ms over 0 ms (CI,
# session 28); woken early it reads 10.02-10.19, the 5 ms point 50.04-50.4.
# Also checks that the run recorded the PMD's sleep. About 40 s.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init ls

run_experiment "$tmp/run.log" experiments/link-sweep.yaml --set link.delay=0ms,1ms,5ms \
    --set workload.count=300 ||
    { echo "FAIL: run: $(tail -5 "$tmp/run.log")"; exit 1; }

# p50 and mean (us) of a point's RTT summary.
point() {
    q "select s.p50 || ' ' || s.mean from summaries s join runs r on r.id = s.run
       where r.experiment = 'link-sweep' and json_extract(r.point, '\$.\"link.delay\"') = '$1'
       and s.metric = 'rtt_us' and (s.labels is null or s.labels = '')
       order by r.id desc limit 1"
}
read -r base base_mean <<<"$(point 0ms)"
[ -n "$base" ] || { echo "FAIL: no RTT stored for 0ms"; cat "$tmp/run.log"; exit 1; }
ok "0ms: p50 $base us (mean $base_mean us)"
for d in 1 5; do
    read -r p50 mean <<<"$(point ${d}ms)"
    [ -n "$p50" ] || { fail "${d}ms: no RTT stored"; continue; }
    over=$(python3 -c "import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) / 1000, 2))" "$base" "$p50")
    if python3 -c "import sys; o, d = map(float, sys.argv[1:]); sys.exit(0 if abs(o - 10 * d) <= d else 1)" "$over" "$d"; then
        ok "${d}ms: p50 $p50 us, $over ms over 0ms (asked $((10 * d)) ms +-10%; mean $mean us)"
    else
        fail "${d}ms: p50 $p50 us, $over ms over 0ms's $base us, asked $((10 * d)) ms +-10% (mean $mean us)"
    fi
done
sleep_us=$(q "select json_extract(params, '\$.pmd_sleep_us') from runs where experiment = 'link-sweep' order by id desc limit 1")
[ "$sleep_us" = 100 ] && ok "run recorded pmd_sleep_us 100" ||
    fail "run recorded pmd_sleep_us '$sleep_us', expected 100"
uptime
[ "$failures" = 0 ]
