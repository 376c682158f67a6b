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

check valid 0 topologies/line3.yaml topologies/star32.yaml
expect valid-stdout "$tmp/out" "topologies/line3.yaml: ok (3 guests, 1 bridges, 3 links)
topologies/star32.yaml: ok (32 guests, 1 bridges, 32 links)"
expect valid-stderr "$tmp/err" ""

check invalid 2 tests/fixtures/topology/unknown-key-guest.yaml
expect invalid-stderr "$tmp/err" \
    "tests/fixtures/topology/unknown-key-guest.yaml:4:5: unknown key 'cpu' (expected one of: name, provider, cpus, memory)"
expect invalid-stdout "$tmp/out" ""

# A bad file does not hide a good one, and the result is still "bad input".
check mixed 2 tests/fixtures/topology/duplicate-address.yaml topologies/line3.yaml
expect mixed-stdout "$tmp/out" "topologies/line3.yaml: ok (3 guests, 1 bridges, 3 links)"
expect mixed-stderr "$tmp/err" "$(cat tests/fixtures/topology/duplicate-address.expected)"

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
expect experiment-point-stderr "$tmp/err" "$(cat tests/fixtures/experiment/sweep-point-error.expected)"
"$sfclab" -v check tests/fixtures/experiment/valid-utf8.yaml >"$tmp/out" 2>&1
expect experiment-dump "$tmp/out" "tests/fixtures/experiment/valid-utf8.yaml: ok (1 point x 1 repetition, scheme none, 1 VNF at the first point)
$(cat tests/fixtures/experiment/valid-utf8.expected)"

# A provider this build or host cannot run is refused by check, saying why (the format knows
# lxc and kvm; this build has netns only), before `run` would write a run row.
check provider-not-built 2 tests/fixtures/check/provider-not-built.yaml
expect provider-not-built "$tmp/err" \
    "tests/fixtures/check/provider-not-built.yaml:4:11: this experiment cannot run here: provider 'lxc' is not built into this sfclab (built: netns)"
"$sfclab" -i sfct-mc-$$ --db "$tmp/runs.db" run tests/fixtures/check/provider-not-built.yaml \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
rows=0
[ -e "$tmp/runs.db" ] && rows=$(sqlite3 "$tmp/runs.db" 'select count(*) from runs' 2>/dev/null || echo 0)
if [ "$rc" != 2 ] || [ "$rows" != 0 ]; then
    echo "FAIL provider-run: exit $rc (expected 2) or a run row written"; cat "$tmp/err"; fail=1
fi
grep -q "provider 'lxc' is not built into this sfclab" "$tmp/err" \
    || { echo "FAIL provider-run: no reason given:"; cat "$tmp/err"; fail=1; }
check provider-swept 2 tests/fixtures/experiment/valid-sweep.yaml
grep -q "valid-sweep.yaml:3:11: chain_len=2,f=1,mtbf=1m,workload.size=64 cannot run here: provider 'lxc' is not built" "$tmp/err" \
    || { echo "FAIL provider-swept:"; cat "$tmp/err"; fail=1; }

# libfyaml must never write to stderr itself: only located diagnostics.
printf 'name: x\nguests: [\n' >"$tmp/syntax.yaml"
check syntax 2 "$tmp/syntax.yaml"
if grep -v "^$tmp/syntax.yaml:[0-9]*:[0-9]*: " "$tmp/err"; then
    echo "FAIL syntax: unlocated output above"; fail=1
fi

check verbose-dump 0 tests/fixtures/topology/valid-minimal.yaml
"$sfclab" -v check tests/fixtures/topology/valid-minimal.yaml >"$tmp/out" 2>&1
expect verbose-dump "$tmp/out" "tests/fixtures/topology/valid-minimal.yaml: ok (1 guests, 0 bridges, 0 links)
$(cat tests/fixtures/topology/valid-minimal.expected)"

exit $fail
