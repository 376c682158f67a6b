#!/usr/bin/env bash
# The schemes side by side (issue 18) under --quick: experiments-quick.sh on the comparison
# files (those with setups:), every scheme a column of every scorecard. A test of its own so
# that each half stays within run-tests' 10 minutes.
cd "$(dirname "$0")/../.."
XQ_FILES=$(grep -l '^setups:' experiments/*.yaml) exec bash tests/system/experiments-quick.sh
