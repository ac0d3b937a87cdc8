#!/usr/bin/env bash
# The network test bed: runs today's hub, a virtual classroom box and a Chromium student in network
# namespaces with impairments switched on and off in phases, and reports what the student got.
#
#   scripts/netem.sh SCENARIO     one scenario: a human table, then (last line) one JSON object
#   scripts/netem.sh all          every scenario of the matrix; tables, and the JSON lines in target/netem/all.jsonl
#   scripts/netem.sh reach [N]    time to first frame on each path (direct udpblocked relayonly turntls), N runs
#                                 each (default 3): JSON lines in target/netem/reach.jsonl, then the Markdown table
#   scripts/netem.sh list         the scenarios
#
# Scenarios: cap600 cap300 loss5 blackout3 blackout10 uplink1000 relayonly delay150 tcpcut, the reach
# ones direct udpblocked turntls relayforced netchange (tests/netem/reach_scenarios.mjs), and smoke, the CI's
# short one. See docs/network.md. Needs root (namespaces, tc, nft). Everything it creates
# is named lnt-RUN-* and removed on exit, also after a failure; the run fails if anything is left.
# Environment: LECTERN_HUB_BIN, LECTERN_APPLIANCE_BIN (default target/debug/), NETEM_RUN (run id),
# NETEM_QUEUE_MS (tbf queue, default 200), NETEM_TRUST_CA=0 (the student does not trust the test CA).
set -euo pipefail
cd "$(dirname "$0")/.."

scenario=${1:-}
if [[ -z $scenario || $scenario == -h || $scenario == --help ]]; then
  sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d'
  exit 2
fi
if [[ $scenario == list ]]; then
  node -e 'import("./tests/netem/scenarios.mjs").then(m => { for (const [k, v] of Object.entries(m.SCENARIOS)) console.log(k.padEnd(12), v.what) })'
  exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "netem: needs root (network namespaces, tc, nft)" >&2; exit 2; }
tests/netem/need.sh "$scenario" >&2

if [[ $scenario == all ]]; then
  mapfile -t matrix < <(node -e 'import("./tests/netem/scenarios.mjs").then(m => console.log(m.MATRIX.join("\n")))')
  mkdir -p target/netem
  : >target/netem/all.jsonl
  failed=0
  for s in "${matrix[@]}"; do
    out=$("$0" "$s") || failed=1
    printf '%s\n\n' "$(sed '$d' <<<"$out")"
    tail -1 <<<"$out" >>target/netem/all.jsonl
  done
  node tests/netem/markdown.mjs target/netem/all.jsonl
  exit "$failed"
fi

if [[ $scenario == reach ]]; then
  runs=${2:-3}
  [[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "netem: reach N: N is 1-99 runs" >&2; exit 2; }
  mkdir -p target/netem
  : >target/netem/reach.jsonl
  failed=0
  for ((i = 1; i <= runs; i++)); do
    for s in direct udpblocked relayonly turntls; do
      out=$("$0" "$s") || failed=1
      sed '$d' <<<"$out" | grep -E '^(scenario|first frame|note)' >&2 || true
      tail -1 <<<"$out" >>target/netem/reach.jsonl
    done
  done
  node tests/netem/reach_table.mjs target/netem/reach.jsonl
  exit "$failed"
fi

run=${NETEM_RUN:-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export NETEM_RUN=$run
# Last resort if the runner dies without its own teardown: nothing of this run may stay.
trap 'tests/netem/topo.sh down "$run" >/dev/null 2>&1 || true' EXIT
node tests/netem/run.mjs "$scenario"
