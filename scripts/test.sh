#!/bin/bash
# make test, in three phases:
#  1. the unit tests on every core (pytest-xdist, a file per worker: they share no lab);
#  2. the lab tests not marked `exclusive`, on two pytest-xdist workers (a file per worker), each
#     worker on a lab of its own (tests/conftest.py: otcpt on 198.18.1.0/24, otcpu on 198.18.2.0/24);
#  3. the `exclusive` lab tests one at a time: they change a host-wide setting (nf_conntrack_max,
#     nf_conntrack_buckets) or measure a rate, so nothing else may run beside them.
# Extra pytest arguments apply to every phase; arguments that name test paths run just those, in
# one pytest as before; a -m or -n of your own runs the lab tests in one pytest with it (your
# selection, your workers: at most two, one per lab).
# A crashed lab worker is not replaced (--max-worker-restart 0): a new one would find no lab of its
# own. Ctrl-C (pytest's exit 2) ends make test at once.
# Exit: pytest's code of the first phase that failed. Exit 5 (no tests collected) fails, unless
# the arguments selected tests in another phase (e.g. -k nat): a run of nothing is never green.
set -u
BIN=${1:?usage: scripts/test.sh VENV_BIN [PYTEST_ARGS...]}
shift
for arg in "$@"; do  # test paths named (make test PYTEST_ARGS=tests/lab/test_x.py): just those, in one run
    case "$arg" in tests/*|./tests/*) exec "$BIN/python" -m pytest "$@" ;; esac
done
cores=$(nproc 2>/dev/null || echo 1)
workers=$cores
[ "$workers" -gt 4 ] && workers=4
lab_workers=$cores  # one lab per worker; tests/conftest.py has two (LAB_SLOTS)
[ "$lab_workers" -gt 2 ] && lab_workers=2
own_phases=0
for arg in "$@"; do
    case "$arg" in -m*|-n*|--numprocesses*) own_phases=1 ;; esac
done
codes=()
phase() {  # one pytest; Ctrl-C stops make test here
    "$BIN/python" -m pytest "$@"
    local rc=$?
    [ "$rc" -eq 2 ] && exit 2
    codes+=("$rc")
}
phase tests/unit -n "$workers" --dist loadfile "$@"
if [ "$own_phases" -eq 1 ]; then
    phase tests/lab "$@"
else
    phase tests/lab -n "$lab_workers" --dist loadfile --max-worker-restart 0 -m "not exclusive" "$@"
    phase tests/lab -m exclusive "$@"
fi
for rc in "${codes[@]}"; do
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then exit "$rc"; fi
done
for rc in "${codes[@]}"; do
    [ "$rc" -eq 0 ] && exit 0
done
echo "make test: no test was collected (exit 5)" >&2
exit 5
