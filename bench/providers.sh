#!/usr/bin/env bash
# Bench (issue 16): per guest provider, in one run on the same host,
#  - `sfclab up` and `down` of line3 (3 guests, agents running), median of 3 (kvm: 1), per guest;
#  - the guest's own start and destroy through the provider API (lxc, kvm: test_libvirt);
#  - the 1-VNF DNS chain's p50 RTT (`sfclab run experiments/baseline-dns.yaml --quick`), every
#    provider's run in the same database, each run with its provider recorded,
# with ratios to netns, and the load average at each row. kvm runs only when `make images` was done (SFCLAB_BENCH_KVM=0 skips it);
# under TCG it takes minutes. Root only.
set -u
cd "$(dirname "$0")/.." || exit 1
sfclab=bin/sfclab
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 0; }
providers="netns lxc"
if [ "${SFCLAB_BENCH_KVM:-1}" != 0 ] && [ -r build/images/initrd.img ]; then
    providers="$providers kvm"
fi
tmp=$(mktemp -d /tmp/sfct-bprov-XXXXXX)
names=()
trap 'for i in "${names[@]}"; do $sfclab -i "$i" clean >/dev/null 2>&1; done; rm -rf -- "$tmp"' EXIT
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
db=$tmp/providers.db
printf "%-6s %12s %12s %12s %12s %12s  %s\n" provider "up/guest ms" "down/guest" "start ms" \
    "destroy ms" "dns p50 us" "load"
for p in $providers; do
    reps=3; [ "$p" = kvm ] && reps=1
    : >"$tmp/up" ; : >"$tmp/down"
    for r in $(seq "$reps"); do
        name=sfct-bp-$$-$p-$r
        names+=("$name")
        t0=$(now_ms)
        if ! $sfclab -i "$name" up topologies/line3.yaml --provider "$p" >"$tmp/out" 2>&1; then
            echo "$p: up failed"; cat "$tmp/out"; continue
        fi
        echo $(( ($(now_ms) - t0) / 3 )) >>"$tmp/up"
        t0=$(now_ms)
        $sfclab -i "$name" down >/dev/null 2>&1
        echo $(( ($(now_ms) - t0) / 3 )) >>"$tmp/down"
    done
    start=- destroy=-
    if [ "$p" != netns ] && build/tests/system/test_libvirt "$p" >"$tmp/api" 2>&1; then
        start=$(awk '/^timing: .* start / {print $4}' "$tmp/api" | median)
        destroy=$(awk '/^timing: .* (destroy|stop) / && $4 > 0 {print $4}' "$tmp/api" | median)
    fi
    name=sfct-bp-$$-$p-run
    names+=("$name")
    p50=-
    if $sfclab -i "$name" --db "$db" run experiments/baseline-dns.yaml --quick \
            --set provider="$p" >"$tmp/run" 2>&1; then
        p50=$(sqlite3 "$db" "select round(s.p50, 1) from summaries s join runs r on r.id = s.run
            where s.metric = 'rtt_us' and s.labels = '' and r.status = 'complete'
            and json_extract(r.params, '\$.provider') = '$p'")
    else
        echo "$p: baseline-dns failed"; tail -5 "$tmp/run"
    fi
    up=$(median <"$tmp/up"); down=$(median <"$tmp/down")
    printf "%-6s %12s %12s %12s %12s %12s  %s\n" "$p" "$up" "$down" "$start" "$destroy" "$p50" \
        "$(cut -d' ' -f1-3 /proc/loadavg)"
    eval "up_$p=\$up p50_$p=\$p50"
done
for p in $providers; do
    [ "$p" = netns ] && continue
    eval "u=\${up_$p:-} r=\${p50_$p:-}"
    awk -v p="$p" -v u="$u" -v un="${up_netns:-}" -v r="$r" -v rn="${p50_netns:-}" 'BEGIN {
        printf "%s / netns: up per guest %s, dns p50 %s\n", p,
            (u > 0 && un > 0) ? sprintf("%.2fx", u / un) : "-",
            (r > 0 && rn > 0) ? sprintf("%.2fx", r / rn) : "-" }'
done
echo "runs in $db: $(sqlite3 "$db" "select group_concat(json_extract(params, '\$.provider')
    || ':' || status || coalesce(':' || json_extract(host, '\$.kvm_accel'), ''), ' ') from runs")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
