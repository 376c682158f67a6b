#!/usr/bin/env bash
# `sfclab check` end to end: exit codes, the one-line summary on stdout, every problem on stderr
# as file:line:col, and several files in one call. Needs no root; runs from the repository root.
set -u
sfclab=bin/sfclab
tmp=$(mktemp -d /tmp/sfct-model-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() {                               # check NAME EXPECTED-RC ARGS...
    local name=$1 want=$2; shift 2
    "$sfclab" check "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL $name: exit $rc, expected $want"; cat "$tmp/out" "$tmp/err"; fail=1
    fi
}
expect() {                              # expect NAME FILE EXPECTED-TEXT ("" : empty file)
    if [ -z "$3" ]; then
        if [ -s "$2" ]; then echo "FAIL $1: expected nothing, got:"; cat "$2"; fail=1; fi
        return
    fi
    if ! diff -u <(printf '%s\n' "$3") "$2" >"$tmp/diff"; then
        echo "FAIL $1:"; cat "$tmp/diff"; fail=1
    fi
}

# A golden file as `sfclab check` prints it: the unit tests keep the registries' lists as
# placeholders there (tests/unit/golden.h); the schemes' list is the one `sfclab schemes` shows.
schemes_list=$("$sfclab" schemes --all | grep -v '^ ' | paste -sd, | sed 's/,/, /g')
golden() { sed "s/@SCHEMES@/$schemes_list/g" "$1"; }

check valid 0 topologies/line3.yaml topologies/star32.yaml
expect valid-stdout "$tmp/out" "topologies/line3.yaml: ok (3 guests, 1 bridges, 3 links)
topologies/star32.yaml: ok (32 guests, 1 bridges, 32 links)"
expect valid-stderr "$tmp/err" ""

check invalid 2 tests/fixtures/topology/unknown-key-guest.yaml
expect invalid-stderr "$tmp/err" \
    "tests/fixtures/topology/unknown-key-guest.yaml:4:5: unknown key 'cpu' (expected one of: name, provider, cpus, period, memory)"
expect invalid-stdout "$tmp/out" ""

# A bad file does not hide a good one, and the result is still "bad input".
check mixed 2 tests/fixtures/topology/duplicate-address.yaml topologies/line3.yaml
expect mixed-stdout "$tmp/out" "topologies/line3.yaml: ok (3 guests, 1 bridges, 3 links)"
expect mixed-stderr "$tmp/err" "$(golden tests/fixtures/topology/duplicate-address.expected)"

check missing 2 "$tmp/no-such.yaml"
expect missing-stderr "$tmp/err" "$tmp/no-such.yaml: cannot read: No such file or directory"

printf 'experiment: demo\n' >"$tmp/exp.yaml"
check experiment 2 "$tmp/exp.yaml"
expect experiment-stderr "$tmp/err" "$tmp/exp.yaml:1:1: missing required key 'chain'
$tmp/exp.yaml:1:1: missing required key 'workload'"

# Experiments: the summary, a value wrong at one sweep point only, and the points dump.
check experiments 0 experiments/baseline-dns.yaml tests/fixtures/experiment/valid-quick-merge.yaml
expect experiments-stdout "$tmp/out" "experiments/baseline-dns.yaml: ok (1 point x 1 repetition, scheme none, 1 VNF at the first point)
tests/fixtures/experiment/valid-quick-merge.yaml: ok (2 points x 5 repetitions, schemes none, ftc, 3 VNFs at the first point)"
check experiment-point 2 tests/fixtures/experiment/sweep-point-error.yaml
expect experiment-point-stderr "$tmp/err" "$(golden tests/fixtures/experiment/sweep-point-error.expected)"
"$sfclab" -v check tests/fixtures/experiment/valid-utf8.yaml >"$tmp/out" 2>&1
expect experiment-dump "$tmp/out" "tests/fixtures/experiment/valid-utf8.yaml: ok (1 point x 1 repetition, scheme none, 1 VNF at the first point)
$(golden tests/fixtures/experiment/valid-utf8.expected)"

# A provider this build does not have is refused by check where the file names it, and `run`
# refuses it before any run row is written. (A provider that is built but that this host cannot run, e.g. without
# namespaces, is refused the same way with why: guest_provider_usable().)
check provider-not-built 2 tests/fixtures/check/provider-not-built.yaml
expect provider-not-built "$tmp/err" \
    "$(bin/sfclab check tests/fixtures/check/provider-not-built.yaml 2>&1 | grep "4:11: unknown provider 'vbox' (expected one of: netns, ")"
"$sfclab" -i sfct-mc-$$ --db "$tmp/runs.db" run tests/fixtures/check/provider-not-built.yaml \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
rows=0
[ -e "$tmp/runs.db" ] && rows=$(sqlite3 "$tmp/runs.db" 'select count(*) from runs' 2>/dev/null || echo 0)
if [ "$rc" != 2 ] || [ "$rows" != 0 ]; then
    echo "FAIL provider-run: exit $rc (expected 2) or a run row written"; cat "$tmp/err"; fail=1
fi
grep -q "unknown provider 'vbox'" "$tmp/err" \
    || { echo "FAIL provider-run: no reason given:"; cat "$tmp/err"; fail=1; }

# A provider that is built but cannot run on this host is refused the same way, with why.
SFCLAB_IMAGES=/nonexistent "$sfclab" check tests/fixtures/check/provider-unusable.yaml \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" != 2 ] || ! grep -q "provider-unusable.yaml:3:11: this experiment cannot run here: /nonexistent/vmlinuz is missing" "$tmp/err"; then
    echo "FAIL provider-unusable: exit $rc (expected 2), or no located reason:"; cat "$tmp/err"; fail=1
fi
rm -f "$tmp/runs.db"
SFCLAB_IMAGES=/nonexistent "$sfclab" -i sfct-mc-$$ --db "$tmp/runs.db" run \
    tests/fixtures/check/provider-unusable.yaml >"$tmp/out" 2>"$tmp/err"
rc=$?
rows=0
[ -e "$tmp/runs.db" ] && rows=$(sqlite3 "$tmp/runs.db" 'select count(*) from runs' 2>/dev/null || echo 0)
if [ "$rc" != 2 ] || [ "$rows" != 0 ]; then
    echo "FAIL provider-unusable run: exit $rc (expected 2) or a run row written"; cat "$tmp/err"; fail=1
fi

# libfyaml must never write to stderr itself: only located diagnostics.
printf 'name: x\nguests: [\n' >"$tmp/syntax.yaml"
check syntax 2 "$tmp/syntax.yaml"
if grep -v "^$tmp/syntax.yaml:[0-9]*:[0-9]*: " "$tmp/err"; then
    echo "FAIL syntax: unlocated output above"; fail=1
fi

check verbose-dump 0 tests/fixtures/topology/valid-minimal.yaml
"$sfclab" -v check tests/fixtures/topology/valid-minimal.yaml >"$tmp/out" 2>&1
expect verbose-dump "$tmp/out" "tests/fixtures/topology/valid-minimal.yaml: ok (1 guests, 0 bridges, 0 links)
$(golden tests/fixtures/topology/valid-minimal.expected)"

# The scheme registry, experiments/README.md and `sfclab check` agree: the README's section is
# what `sfclab schemes --markdown` prints, every scheme it lists as deployable checks as such,
# every other one checks as "not deployable yet", and an unknown scheme's message names them all.
sed -n '/^<!-- schemes: begin -->$/,/^<!-- schemes: end -->$/p' experiments/README.md \
    | sed '1d;$d' >"$tmp/readme-schemes"
"$sfclab" schemes --markdown >"$tmp/registry-schemes"
if ! diff -u "$tmp/readme-schemes" "$tmp/registry-schemes" >"$tmp/diff"; then
    echo "FAIL schemes-readme: experiments/README.md differs from \`sfclab schemes --markdown\`:"
    cat "$tmp/diff"; fail=1
fi
all=""
while IFS='|' read -r _ name _; do
    name=$(echo "$name" | tr -d ' `')
    case "$name" in ''|scheme|---) continue ;; esac
    all="$all${all:+, }$name"
    # A chain of two that answers (dns): every deployable scheme takes it (fitsfc needs the
    # answer, ftc f+1 = 2 VNFs).
    printf 'experiment: s\nscheme: %s\nchain: {vnfs: [{fn: fwd}, {fn: dns}], rules: ["udp"]}\nworkload: {kind: dns, count: 1}\n' \
        "$name" >"$tmp/s.yaml"
    "$sfclab" check "$tmp/s.yaml" >"$tmp/out" 2>&1
    if sed -n '/^Known but not deployable/,$p' "$tmp/readme-schemes" | grep -q "| \`$name\` |"; then
        grep -q "scheme $name (not deployable yet)" "$tmp/out" \
            || { echo "FAIL schemes-check: $name should check as not deployable:"; cat "$tmp/out"; fail=1; }
    else
        grep -q "scheme $name, " "$tmp/out" \
            || { echo "FAIL schemes-check: $name should check as deployable:"; cat "$tmp/out"; fail=1; }
    fi
done <"$tmp/readme-schemes"
printf 'experiment: s\nscheme: pbft\nchain: {vnfs: [{fn: fwd}], rules: ["udp"]}\nworkload: {kind: udp, count: 1}\n' >"$tmp/s.yaml"
check schemes-unknown 2 "$tmp/s.yaml"
expect schemes-unknown "$tmp/err" "$tmp/s.yaml:2:9: unknown scheme 'pbft' (expected one of: $all)"

exit $fail
