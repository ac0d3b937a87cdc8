#!/usr/bin/env bash
# Runs the product on this machine: the hub, and a virtual classroom box (test pattern, tone and a
# test "laptop" shown as slides) publishing room "demo". Prints a student link and a teacher link; Ctrl-C stops everything.
# Environment: LECTERN_LISTEN (default 127.0.0.1:8080), LECTERN_DATA_DIR (default ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

listen="${LECTERN_LISTEN:-127.0.0.1:8080}"
data="${LECTERN_DATA_DIR:-$PWD/data}"
room=demo

echo "==> building (first time takes a few minutes)"
cargo build --release --bins --locked
bin=target/release

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

mkdir -p "$data"
log="$data/hub.log"
"$bin/lectern-hub" serve --listen "$listen" --data-dir "$data" >"$data/hub.out" 2>"$log" &
pids+=($!)
for _ in $(seq 1 100); do
  grep -q "listening on" "$data/hub.out" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "hub failed to start:"; tail -20 "$log"; exit 1; }
  sleep 0.2
done
base=$(sed -n 's/^listening on \(http:\/\/[^ ]*\).*/\1/p' "$data/hub.out" | head -1)
base=${base/0.0.0.0/127.0.0.1}

token() { "$bin/lectern-hub" token --data-dir "$data" --room "$room" --role "$1" --name "$2" --ttl 12h "${@:3}" | tail -1; }
# First start only: a one-time link to create the web admin account.
admin=$(grep -o 'http://[^ ]*/admin/setup?code=[^ ]*' "$data/hub.out" | head -1 || true)
admin=${admin/0.0.0.0/127.0.0.1}
device=$(token device "Room 101")
"$bin/lectern-appliance" --virtual --content virtual --hub "$base" --room "$room" --token "$device" \
  --state-dir "$data/appliance" --config "$data/appliance" 2>"$data/appliance.log" &
pids+=($!)

cat <<MSG

  Lectern is running. Open these in a browser (Chromium, Chrome, Firefox):

  Student:  $base/join/$room?token=$(token student "Student")
  Teacher:  $base/join/$room?token=$(token teacher "Teacher")
  Guest:    $base/join/$room?token=$(token student "Guest" --guest)   (shared link: waits in the lobby)
  Admin:    ${admin:-$base/admin (already set up)}

  The classroom box publishes a test pattern, a tone and test slides (the teacher's laptop). Logs: $log, $data/appliance.log
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"
