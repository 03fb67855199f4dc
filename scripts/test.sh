#!/bin/bash
# make test: the unit tests on every core (pytest-xdist, a file per worker: they share no lab),
# then the lab tests one at a time (they share one lab, and Drone's send ceiling is measured:
# two at once would disturb each other). Extra pytest arguments apply to both halves; arguments
# that name test paths run just those, in one pytest as before.
# Exit: pytest's code of the first half that failed. Exit 5 (no tests collected) fails, unless
# the arguments selected tests in the other half only (e.g. -k nat): a run of nothing is never green.
set -u
BIN=${1:?usage: scripts/test.sh VENV_BIN [PYTEST_ARGS...]}
shift
for arg in "$@"; do  # test paths named (make test PYTEST_ARGS=tests/lab/test_x.py): just those, in one run
    case "$arg" in tests/*|./tests/*) exec "$BIN/python" -m pytest "$@" ;; esac
done
workers=$(nproc 2>/dev/null || echo 1)
[ "$workers" -gt 4 ] && workers=4
"$BIN/python" -m pytest tests/unit -n "$workers" --dist loadfile "$@"
unit=$?
"$BIN/python" -m pytest tests/lab "$@"
lab=$?
for rc in "$unit" "$lab"; do
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then exit "$rc"; fi
done
if [ "$unit" -eq 5 ] && [ "$lab" -eq 5 ]; then
    echo "make test: no test was collected (exit 5)" >&2
    exit 5
fi
exit 0
