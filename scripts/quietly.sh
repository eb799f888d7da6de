#!/usr/bin/env bash
# Run one set-up step with its output in a log: on success print only the step's own summary
# (its last line starting with "setup:" or "<module>:"), on failure the log's tail and path.
#   scripts/quietly.sh <log file> <command> [args...]
set -uo pipefail
log=$1
shift
mkdir -p "$(dirname "$log")"
"$@" >"$log" 2>&1
code=$?
if [ "$code" -eq 0 ]; then
  grep -E '^(setup|kairos\.[a-z_]+): ' "$log" | tail -n 1
  exit 0
fi
echo "setup: '$*' failed (exit $code); the last lines of $log:" >&2
tail -n 40 "$log" >&2
exit "$code"
