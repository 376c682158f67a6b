#!/usr/bin/env bash
# Every experiment file runs end to end with its --quick profile (issue 4: "so every experiment
# can be smoke-tested in CI"): it validates, runs every point, completes in the database, and
# leaves nothing behind; and its report shows numbers only, each published value marked printed
# or derived, with a non-empty Shape: section (issue 10). How good the numbers are is for the
# experiments' own tests. A file naming a scheme that cannot be deployed yet (`sfclab check`
# says so) must validate, and is counted as skipped, by name, not run.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

inst=sfct-xq-$$
tmp=$(mktemp -d /tmp/sfct-xq-XXXXXX)
failures=0
skipped=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
. tests/system/report-lib.sh
trap 'bin/sfclab -i "$inst" clean >/dev/null 2>&1; rm -rf "$tmp"' EXIT

compare_check() {
    local f=$1 name=$2 db=$tmp/$2.db log=$tmp/$2.log setups tables s start=$(date +%s)
    bin/sfclab -i "$inst" --db "$db" compare "$f" --quick >"$log" 2>&1; rc=$?
    if [ "$rc" != 0 ]; then
        fail "$f: sfclab compare exited $rc: $(grep -E 'error|failed' "$log" | head -3)"
        return
    fi
    setups=$(sed -n '/^quick:/,$p' "$f" | sed -n 's/^ *setup: *\[\(.*\)\]/\1/p' | head -1 | tr -d ' ' | tr ',' ' ')
    tables=$(grep -c '^| metric |' "$log")
    [ -n "$setups" ] && [ "$tables" -ge 1 ] || { fail "$f: no scorecard, or no setup axis in quick:"; return; }
    for s in $setups; do
        n=$(grep '^| metric |' "$log" | grep -c "| $s |")
        [ "$n" = "$tables" ] || fail "$f: set-up $s is a column of $n of $tables scorecards"
    done
    if grep '^| availability (%) |' "$log" | grep -q ' not run |'; then
        fail "$f: a deployable set-up did not run: $(grep '^| availability (%) |' "$log" | head -2)"
    fi
    grep -q '^### Summary' "$log" || fail "$f: no summary"
    good=$(sqlite3 "$db" "select count(*) from runs where experiment='$name' and status='complete'")
    [ "$good" -gt 0 ] || fail "$f: no complete run"
    if [ -e "/run/netns/sfclab-$inst" ] || [ -d "/run/sfclab/$inst" ]; then
        fail "$f left its instance behind"
    fi
    ok "$f: $tables scorecard(s), every set-up ($setups) in each, $good run(s) complete, in $(( $(date +%s) - start )) s"
}

# XQ_FILES="experiments/a.yaml ..." limits the run to those files. By default every file but the
# comparisons (setups:), which compare-quick.sh runs: together they would outlast run-tests'
# 10 minutes per test.
for f in ${XQ_FILES:-$(grep -L '^setups:' experiments/*.yaml)}; do
    name=$(sed -n 's/^experiment: *//p' "$f")
    start=$(date +%s)
    if grep -q '^setups:' "$f"; then
        # A comparison of schemes (issue 18): `sfclab compare` runs every set-up it can deploy
        # and shows the others as such; every set-up of the quick sweep must be a column of
        # every scorecard, and every deployable one must have run.
        compare_check "$f" "$name"
        continue
    fi
    if bin/sfclab check "$f" 2>&1 | grep -q "not deployable yet"; then
        if bin/sfclab check "$f" >/dev/null 2>&1; then
            echo "skip: $f: validated; its scheme is not deployable yet"
            skipped=$((skipped + 1))
        else
            echo "FAIL: $f: $(bin/sfclab check "$f" 2>&1 | head -3)"
            failures=$((failures + 1))
        fi
        continue
    fi
    # Each file in a database of its own, made again when the private switch missed its
    # start-up deadline on a loaded machine (the run then never started): once more, from
    # nothing. Any other failure fails.
    db=$tmp/$name.db
    bin/sfclab -i "$inst" --db "$db" run "$f" --quick >"$tmp/$name.log" 2>&1; rc=$?
    if [ "$rc" != 0 ] && grep -q "did not apply configuration" "$tmp/$name.log"; then
        echo "note: $f: the switch missed its start-up deadline; once more"
        bin/sfclab -i "$inst" clean >/dev/null 2>&1
        rm -f "$db"
        bin/sfclab -i "$inst" --db "$db" run "$f" --quick >"$tmp/$name.log" 2>&1; rc=$?
    fi
    if [ "$rc" != 0 ]; then
        # The first errors and the last: a run's fatal error is often not its first.
        echo "FAIL: $f: $(grep -E 'error|failed' "$tmp/$name.log" | sed -n '1,3p;$p' | uniq)"
        mkdir -p build/test-logs && cp "$tmp/$name.log" "build/test-logs/xq-$name.log"
        echo "    (its whole log: build/test-logs/xq-$name.log)"
        failures=$((failures + 1))
        continue
    fi
    bad=$(sqlite3 "$db" "select count(*) from runs where experiment='$name' and status!='complete'")
    good=$(sqlite3 "$db" "select count(*) from runs where experiment='$name' and status='complete'")
    if [ "$bad" != 0 ] || [ "$good" = 0 ]; then
        echo "FAIL: $f: $good complete, $bad not"
        failures=$((failures + 1))
    else
        echo "ok: $f: $good run(s) complete in $(( $(date +%s) - start )) s"
        report_check "$db" "$name"
    fi
    if [ -e "/run/netns/sfclab-$inst" ] || [ -d "/run/sfclab/$inst" ]; then
        echo "FAIL: $f left its instance behind"
        failures=$((failures + 1))
    fi
done
echo "experiments-quick: $failures failure(s), $skipped skipped (scheme not deployable yet)"
[ "$failures" -eq 0 ]
