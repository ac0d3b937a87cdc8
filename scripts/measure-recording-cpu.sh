#!/usr/bin/env bash
# Box CPU with edge recording on vs off (issue 21): a real hub and a virtual box (720p30 test
# camera, test tone) publishing; once with the hub's recording policy `off`, once `always`. Prints
# the box's CPU (user+system, % of one core) over the same window of each run. Needs the debug
# binaries (`cargo build -p lectern-hub -p lectern-appliance`). Usage: scripts/measure-recording-cpu.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
target=${CARGO_TARGET_DIR:-target}
hub_bin=$target/debug/lectern-hub
box_bin=$target/debug/lectern-appliance
tck=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() {
  local policy=$1 dir port hub box teacher ticks0 ticks1
  dir=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  LECTERN_RECORDING_DEFAULT=$policy LECTERN_UDP_PORT=0 LECTERN_BIND_IP=127.0.0.1 LECTERN_SHARDS=1 \
    "$hub_bin" serve --listen "127.0.0.1:$port" --data-dir "$dir" >"$dir/hub.log" 2>&1 &
  hub=$!
  for _ in $(seq 100); do grep -q "listening on" "$dir/hub.log" && break; sleep 0.1; done
  mkdir -p "$dir/etc"
  "$hub_bin" token --data-dir "$dir" --room bench --role device | tail -n1 >"$dir/etc/token"
  teacher=$("$hub_bin" token --data-dir "$dir" --room bench --role teacher | tail -n1)
  printf '[hub]\nurl = "http://127.0.0.1:%s"\nroom = "bench"\ntoken_file = "%s"\n[recording]\ndir = "%s"\n' \
    "$port" "$dir/etc/token" "$dir/recordings" >"$dir/etc/appliance.toml"
  "$box_bin" --virtual --status-listen 127.0.0.1:0 --config "$dir/etc" --state-dir "$dir/state" \
    --vendor-config-dir "$dir/vendor" >"$dir/box.log" 2>&1 &
  box=$!
  # Until the box is on its control channel (202), at most 60 s.
  for _ in $(seq 120); do
    curl -fsS -X POST -H "Authorization: Bearer $teacher" "http://127.0.0.1:$port/api/rooms/bench/live" >/dev/null 2>&1 && break
    sleep 0.5
  done
  sleep 10 # warm up: connected, encoders settled
  ticks0=$(cpu_ticks "$box")
  sleep "$secs"
  ticks1=$(cpu_ticks "$box")
  local files
  files=$( (find "$dir/recordings" -name "*.mp4" 2>/dev/null || true) | wc -l)
  kill "$box" "$hub" 2>/dev/null || true
  wait "$box" "$hub" 2>/dev/null || true
  awk -v a="$ticks0" -v b="$ticks1" -v t="$tck" -v s="$secs" -v p="$policy" -v f="$files" \
    'BEGIN { printf "recording %-6s box CPU %.1f %% of one core over %d s (%d files)\n", p, (b - a) / t / s * 100, s, f }'
  rm -rf "$dir"
}

run off
run always
