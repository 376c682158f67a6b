# Checks of `sfclab report EXPERIMENT` shared by the system tests (sourced; needs ok/fail).
# report_check DB EXPERIMENT: the report says which runs it shows, every published row holds a
# number on both sides and is marked printed or derived with a source line, and the Shape:
# section under every table is not empty. Prints the report to $tmp/report-EXPERIMENT.md.
report_check() {
    local db=$1 name=$2 out=$tmp/report-$2.md
    if ! bin/sfclab --db "$db" report "$name" >"$out" 2>&1; then
        fail "report $name: $(tail -3 "$out")"
        return
    fi
    grep -q '^Runs shown: [0-9]* complete run' "$out" && ok "report $name says which runs it shows" \
        || fail "report $name does not say which runs it shows"
    # Published rows: | label | published | printed/derived | ours | CI | ratio |
    local bad
    bad=$(awk -F' [|] ' '
        /^[|] [|] published [|] value is/ { table = 1; next }
        table && /^[|]---/ { next }
        table && /^[|]/ {
            rows++
            if ($3 != "printed" && $3 != "derived") print "not marked printed or derived: " $0
            if ($2 !~ /^-?[0-9]/) print "published is not a number: " $0
            if ($4 !~ /^-?[0-9]/) print "ours is not a number: " $0
            next
        }
        table { table = 0 }
        /^Shape:$/ { shape = 1; next }
        shape { if ($0 !~ /^- ./) print "empty Shape: section"; shape = 0 }
        /^- .*: .*(; derived: |; printed in the paper)/ { sources++ }
        END { if (sources < rows) print rows " published rows but " sources+0 " source lines" }
    ' "$out")
    grep -q '^Shape:$' "$out" || bad="${bad}no Shape: section"
    [ -z "$bad" ] && ok "report $name: numbers only, each reference printed or derived, Shape: filled" \
        || fail "report $name: $bad"
}
