#!/bin/sh
# make demo: build the lab, establish the article's 1000 connections through the DUT,
# print the verdict, remove the lab. Exit code: the run's (0 = all ESTABLISHED+ASSURED).
set -u
BIN=${1:-.venv/bin}
"$BIN/ostinato-tcp" lab up || exit $?
"$BIN/ostinato-tcp" run scenarios/lab-1000.yaml
rc=$?
"$BIN/ostinato-tcp" lab down >/dev/null || echo "demo: 'ostinato-tcp lab down' failed" >&2
exit $rc
