#!/usr/bin/env bash
# Recording upload throughput and its effect on the live lesson (issue 21): a real hub (policy
# `always`) and a virtual box (720p30 test camera, test tone) with `[recording] fragment_minutes = 1`
# and `upload_kbps = CAP`. The lesson runs SECS seconds, so each minute's file is uploaded while the
# lesson goes on. Prints the upload's rate while sending (the box's log: "uploading a recording" to
# "recording uploaded") and, from the box's status sampled every second, the frame rate and the loss
# the hub reported while an upload ran and while none did.
# Needs the debug binaries (`cargo build -p lectern-hub -p lectern-appliance`).
# Usage: scripts/measure-upload.sh [secs] [cap_kbps...]   (default: 150 s, caps 4000 and 0 = none)
# KEEP=1 keeps each run's logs. STORAGE=s3 keeps the hub's recordings in a bucket of a local moto
# server (deps.sh --test's venv) instead of the data dir: the rate then includes the hub's multipart
# upload of each 8 MiB part to S3, and the moto server's own upload time is printed too.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-150}
shift || true
caps=("$@")
[ ${#caps[@]} -gt 0 ] || caps=(4000 0)
target=${CARGO_TARGET_DIR:-target}
hub_bin=$target/debug/lectern-hub
box_bin=$target/debug/lectern-appliance

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# STORAGE=s3: a moto server and a bucket, exported as the hub's LECTERN_STORAGE_* settings.
moto=""
if [ "${STORAGE:-}" = s3 ]; then
  moto_bin=${LECTERN_MOTO_SERVER:-/opt/lectern/test-venv/bin/moto_server}
  [ -x "$moto_bin" ] || { echo "moto_server not found: scripts/deps.sh --test installs it" >&2; exit 1; }
  moto_port=$(free_port)
  "$moto_bin" -H 127.0.0.1 -p "$moto_port" >/dev/null 2>&1 &
  moto=$!
  trap 'kill $moto 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$moto_port/" >/dev/null 2>&1 && break; sleep 0.2; done
  # moto takes an unsigned create.
  curl -fsS -X PUT "http://127.0.0.1:$moto_port/lectern-measure" >/dev/null
  export LECTERN_STORAGE_KIND=s3 LECTERN_STORAGE_ENDPOINT=http://127.0.0.1:$moto_port LECTERN_STORAGE_BUCKET=lectern-measure \
    LECTERN_STORAGE_REGION=us-east-1 LECTERN_STORAGE_ACCESS_KEY_ID=measure LECTERN_STORAGE_SECRET_ACCESS_KEY=measure-secret
fi

run() {
  local cap=$1 dir port hub box teacher status
  dir=$(mktemp -d)
  port=$(free_port)
  LECTERN_RECORDING_DEFAULT=always LECTERN_UDP_PORT=0 LECTERN_BIND_IP=127.0.0.1 LECTERN_SHARDS=1 \
    "$hub_bin" serve --listen "127.0.0.1:$port" --data-dir "$dir" >"$dir/hub.log" 2>&1 &
  hub=$!
  for _ in $(seq 100); do grep -qs "listening on" "$dir/hub.log" && break; sleep 0.1; done
  mkdir -p "$dir/etc"
  "$hub_bin" token --data-dir "$dir" --room bench --role device | tail -n1 >"$dir/etc/token"
  teacher=$("$hub_bin" token --data-dir "$dir" --room bench --role teacher | tail -n1)
  printf '[hub]\nurl = "http://127.0.0.1:%s"\nroom = "bench"\ntoken_file = "%s"\n[recording]\ndir = "%s"\nfragment_minutes = 1\nmin_free_mb = 0\nupload_kbps = %s\n' \
    "$port" "$dir/etc/token" "$dir/recordings" "$cap" >"$dir/etc/appliance.toml"
  "$box_bin" --virtual --status-listen 127.0.0.1:0 --config "$dir/etc" --state-dir "$dir/state" \
    --vendor-config-dir "$dir/vendor" >"$dir/box.log" 2>&1 &
  box=$!
  for _ in $(seq 100); do grep -q "status endpoint listening" "$dir/box.log" && break; sleep 0.1; done
  status="http://$(sed 's/\x1b\[[0-9;]*m//g' "$dir/box.log" | grep 'status endpoint listening' | grep -o 'addr=[0-9.:]*' | head -n1 | cut -d= -f2)/status"
  local api="http://127.0.0.1:$port/api/rooms/bench"
  for _ in $(seq 120); do
    curl -fsS -X POST -H "Authorization: Bearer $teacher" "$api/live" >/dev/null 2>&1 && break
    sleep 0.5
  done
  for _ in $(seq 120); do
    [ -n "$(find "$dir/recordings" -name '*-camera-*.mp4' 2>/dev/null)" ] && break
    sleep 0.5
  done
  # One status sample a second: unix time, fps, loss.
  local until=$(($(date +%s) + secs))
  while [ "$(date +%s)" -lt "$until" ]; do
    printf '%s %s\n' "$(date +%s.%N)" "$(curl -fsS "$status" 2>/dev/null | tr -d '\n' || echo '{}')" >>"$dir/samples"
    sleep 1
  done
  curl -fsS -X POST -H "Authorization: Bearer $teacher" "$api/end" >/dev/null
  # Until every file is on the hub (the last one after the end), at most 5 minutes.
  for _ in $(seq 300); do
    sed 's/\x1b\[[0-9;]*m//g' "$dir/box.log" | python3 -c "
import sys
t = sys.stdin.read()
sys.exit(0 if t.count('uploading a recording') and t.count('uploading a recording') == t.count('recording uploaded') and 'recording finished' in t else 1)" && break
    sleep 1
  done
  kill "$box" "$hub" 2>/dev/null || true
  wait "$box" "$hub" 2>/dev/null || true
  sed 's/\x1b\[[0-9;]*m//g' "$dir/box.log" | CAP=$cap DIR=$dir python3 -c '
import datetime, json, os, sys
def when(line):
    return datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
windows, start, name = [], None, None
for line in sys.stdin:
    if "uploading a recording" in line:
        start, name = when(line), line.split("file=")[1].split()[0]
    elif "recording uploaded" in line and start is not None:
        windows.append((start, when(line), os.path.getsize(name)))
        start = None
busy, idle = [], []
for line in open(os.path.join(os.environ["DIR"], "samples")):
    t, _, doc = line.partition(" ")
    try:
        s = json.loads(doc)
    except ValueError:
        continue
    if s.get("state") != "live" or not s.get("fps"):
        continue
    sample = (s["fps"], s.get("packet_loss_percent") or 0.0)
    (busy if any(a <= float(t) <= b for a, b, _ in windows) else idle).append(sample)
sent = sum(b for _, _, b in windows)
took = sum(b - a for a, b, _ in windows)
def describe(xs):
    if not xs:
        return "no samples"
    return f"fps min {min(f for f, _ in xs):.1f} mean {sum(f for f, _ in xs) / len(xs):.1f}, loss max {max(l for _, l in xs):.1f} % ({len(xs)} s)"
cap = os.environ["CAP"]
rate = sent * 8 / took / 1000 if took else 0
print(f"cap {cap} kbit/s: {len(windows)} files, {sent / 1e6:.1f} MB sent at {rate:.0f} kbit/s ({took:.1f} s)")
print(f"  live lesson while uploading: {describe(busy)}; while not: {describe(idle)}")
'
  if [ -n "${KEEP:-}" ]; then echo "  logs: $dir"; else rm -rf "$dir"; fi
}

for cap in "${caps[@]}"; do run "$cap"; done
