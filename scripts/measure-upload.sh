#!/usr/bin/env bash
# Recording upload throughput and its effect on a live lesson (issue 21): a real hub (policy
# `always`) and a virtual box (720p30 test camera, test tone) with `[recording] upload_kbps = CAP`.
# The box records a lesson of SECS seconds; the lesson ends and the next one starts at once, so the
# first lesson's file uploads while the second is live. Prints the upload's throughput (file bytes
# over the time from the end of the lesson to `ready` on the hub) and, sampled every second from the
# box's status during the upload, its lowest frame rate and highest packet loss the hub reported.
# Needs the debug binaries (`cargo build -p lectern-hub -p lectern-appliance`).
# Usage: scripts/measure-upload.sh [secs] [cap_kbps...]   (default: 40 s, caps 4000 and 0 = none)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-40}
shift || true
caps=("$@")
[ ${#caps[@]} -gt 0 ] || caps=(4000 0)
target=${CARGO_TARGET_DIR:-target}
hub_bin=$target/debug/lectern-hub
box_bin=$target/debug/lectern-appliance

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

run() {
  local cap=$1 dir port hub box teacher status lessons t0 t1 bytes
  dir=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  LECTERN_RECORDING_DEFAULT=always LECTERN_UDP_PORT=0 LECTERN_BIND_IP=127.0.0.1 LECTERN_SHARDS=1 \
    "$hub_bin" serve --listen "127.0.0.1:$port" --data-dir "$dir" >"$dir/hub.log" 2>&1 &
  hub=$!
  for _ in $(seq 100); do grep -q "listening on" "$dir/hub.log" && break; sleep 0.1; done
  mkdir -p "$dir/etc"
  "$hub_bin" token --data-dir "$dir" --room bench --role device | tail -n1 >"$dir/etc/token"
  teacher=$("$hub_bin" token --data-dir "$dir" --room bench --role teacher | tail -n1)
  printf '[hub]\nurl = "http://127.0.0.1:%s"\nroom = "bench"\ntoken_file = "%s"\n[recording]\ndir = "%s"\nmin_free_mb = 0\nupload_kbps = %s\n' \
    "$port" "$dir/etc/token" "$dir/recordings" "$cap" >"$dir/etc/appliance.toml"
  "$box_bin" --virtual --status-listen 127.0.0.1:0 --config "$dir/etc" --state-dir "$dir/state" \
    --vendor-config-dir "$dir/vendor" >"$dir/box.log" 2>&1 &
  box=$!
  for _ in $(seq 100); do grep -q "status endpoint listening" "$dir/box.log" && break; sleep 0.1; done
  status="http://$(grep -o 'addr=[0-9.:]*' "$dir/box.log" | head -n1 | cut -d= -f2)/status"
  local api="http://127.0.0.1:$port/api/rooms/bench"
  for _ in $(seq 120); do
    curl -fsS -X POST -H "Authorization: Bearer $teacher" "$api/live" >/dev/null 2>&1 && break
    sleep 0.5
  done
  for _ in $(seq 120); do
    [ -n "$(find "$dir/recordings" -name '*-camera-*.mp4' 2>/dev/null)" ] && break
    sleep 0.5
  done
  sleep "$secs"
  curl -fsS -X POST -H "Authorization: Bearer $teacher" "$api/end" >/dev/null
  t0=$(date +%s.%N)
  # The next lesson, live while the first one's file uploads.
  sleep 1
  for _ in $(seq 60); do
    curl -fsS -X POST -H "Authorization: Bearer $teacher" "$api/live" >/dev/null 2>&1 && break
    sleep 0.5
  done
  local min_fps=999 max_loss=0 ready=""
  for _ in $(seq 600); do
    lessons=$(curl -fsS -H "Authorization: Bearer $teacher" "$api/lessons" || echo '[]')
    ready=$(echo "$lessons" | json "next((r['bytes'] for l in d for r in l['recordings'] if r['kind']=='camera' and r['state']=='ready'), '')")
    [ -n "$ready" ] && break
    local s
    s=$(curl -fsS "$status" || echo '{}')
    read -r fps loss < <(echo "$s" | json "'%s %s' % (d.get('fps') or 0, d.get('packet_loss_percent') or 0)")
    min_fps=$(python3 -c "print(min($min_fps, $fps) if $fps > 0 else $min_fps)")
    max_loss=$(python3 -c "print(max($max_loss, $loss))")
    sleep 1
  done
  t1=$(date +%s.%N)
  bytes=$ready
  kill "$box" "$hub" 2>/dev/null || true
  wait "$box" "$hub" 2>/dev/null || true
  python3 -c "
b, t = float('$bytes' or 0), $t1 - $t0
print(f'cap $cap kbit/s: {b/1e6:.1f} MB in {t:.1f} s = {b*8/t/1000:.0f} kbit/s; live lesson meanwhile: lowest {$min_fps} fps, highest loss {$max_loss} %')"
  rm -rf "$dir"
}

for cap in "${caps[@]}"; do run "$cap"; done
