#!/usr/bin/env bash
# Runs the product on this machine: the hub, and a virtual classroom box (test pattern, tone and a
# test "laptop" shown as slides) publishing room "demo". Prints a student link and a teacher link; Ctrl-C stops everything.
# Environment: LECTERN_LISTEN (default 127.0.0.1:8080), LECTERN_DATA_DIR (default ./data),
# LECTERN_BOX_STATUS (the box's status endpoint, default 127.0.0.1:8090).
# --turn: also starts a local coturn relay (Debian's coturn, installed if missing) with a secret
# generated into <data>/turn, and gives the hub a [[media.turn]] for it (UDP and TCP); LECTERN_TURN_PORT
# (default 3478) is its port. Open the student link with &relay=1 to force the relay.
set -euo pipefail
cd "$(dirname "$0")/.."
turn=0
for arg in "$@"; do
  case "$arg" in
    --turn) turn=1 ;;
    *) echo "usage: scripts/demo.sh [--turn]" >&2; exit 2 ;;
  esac
done
if ((turn)); then scripts/deps.sh --turn; else scripts/deps.sh; fi

listen="${LECTERN_LISTEN:-127.0.0.1:8080}"
data="${LECTERN_DATA_DIR:-$PWD/data}"
room=demo
box_status="${LECTERN_BOX_STATUS:-127.0.0.1:8090}"

echo "==> building (first time takes a few minutes)"
cargo build --release --bins --locked
bin=target/release
# Every GStreamer element the virtual box makes must be installed, or it never goes live.
if ! "$bin/lectern-appliance" probe --check --virtual; then
  echo "error: the classroom box cannot run here: install the packages named above (scripts/deps.sh should have)" >&2
  exit 1
fi

pids=()
cleanup() {
  for p in "${pids[@]}" ${turn_pid:-}; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# coturn on the hub's address with a shared secret (use-auth-secret): the hub mints each participant
# a 12-hour credential from it (docs/turn.md). Its own config, user database, pid and log in <data>/turn.
start_turn() {
  local dir="$data/turn" port="${LECTERN_TURN_PORT:-3478}" ip="${listen%:*}" host
  mkdir -p "$dir"
  chmod 700 "$dir"
  [[ -s "$dir/secret" ]] || (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$dir/secret")
  ip=${ip#[}
  ip=${ip%]}
  host=$ip
  if [[ $ip == 0.0.0.0 || $ip == :: ]]; then
    host=$(hostname -I | awk '{print $1}')
  fi
  {
    echo "listening-port=$port"
    [[ $ip == 0.0.0.0 || $ip == :: ]] || echo "listening-ip=$ip"
    [[ $ip == 0.0.0.0 || $ip == :: ]] || echo "relay-ip=$ip"
    # The hub's media ports are loopback addresses when the demo runs on 127.0.0.1.
    [[ $ip == 127.* || $ip == ::1 ]] && echo "allow-loopback-peers"
    echo "use-auth-secret"
    echo "static-auth-secret=$(cat "$dir/secret")"
    echo "realm=lectern-demo"
    echo "no-tls"
    echo "no-dtls"
    echo "no-cli"
    echo "no-multicast-peers"
    echo "simple-log"
    echo "log-file=$dir/turnserver.log"
    echo "pidfile=$dir/turnserver.pid"
    echo "userdb=$dir/turndb"
  } >"$dir/turnserver.conf"
  chmod 600 "$dir/turnserver.conf"
  : >"$dir/turnserver.log"
  turnserver -c "$dir/turnserver.conf" >/dev/null 2>&1 &
  turn_pid=$!
  for _ in $(seq 1 75); do
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
    kill -0 "$turn_pid" 2>/dev/null || { echo "coturn failed to start:"; tail -20 "$dir/turnserver.log"; exit 1; }
    sleep 0.2
  done
  cat >"$dir/hub.toml" <<TOML
# Written by scripts/demo.sh --turn: the local coturn's URLs and shared secret.
[[media.turn]]
urls = ["turn:$host:$port?transport=udp", "turn:$host:$port?transport=tcp"]
secret_file = "$dir/secret"
TOML
  hub_args=(--config "$dir/hub.toml")
  echo "==> coturn relaying on $host:$port (UDP and TCP), config $dir/turnserver.conf, log $dir/turnserver.log"
  echo "    the hub mints TURN credentials from the secret in $dir/secret ([[media.turn]] in $dir/hub.toml)"
}

mkdir -p "$data"
hub_args=()
if ((turn)); then
  start_turn
fi
log="$data/hub.log"
"$bin/lectern-hub" serve --listen "$listen" --data-dir "$data" "${hub_args[@]}" >"$data/hub.out" 2>"$log" &
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
admin=$(cat "$data/admin-setup-link" 2>/dev/null || true)
admin=${admin/0.0.0.0/127.0.0.1}
device=$(token device "Room 101")
"$bin/lectern-appliance" --virtual --content virtual --hub "$base" --room "$room" --token "$device" \
  --state-dir "$data/appliance" --config "$data/appliance" --status-listen "$box_status" 2>"$data/appliance.log" &
pids+=($!)

# Links to a room that never goes on air help nobody: wait for the box to say it is live.
echo "==> waiting for the classroom box to go live (up to 60 s)"
status=""
# The box's own state is the document's first "state" (the return feed has one too).
box_state() { sed -n 's/^{"version":"[^"]*","state":"\([a-z]*\)".*/\1/p' <<<"$status"; }
for _ in $(seq 1 120); do
  status=$(curl -fsS --max-time 2 "http://$box_status/status" 2>/dev/null || true)
  [[ $(box_state) == live ]] && break
  kill -0 "${pids[1]}" 2>/dev/null || { echo "the classroom box stopped:"; tail -20 "$data/appliance.log"; exit 1; }
  sleep 0.5
done
if [[ $(box_state) != live ]]; then
  error=$(sed -n 's/.*"last_error":"\([^"]*\)".*/\1/p' <<<"$status")
  echo "error: the classroom box did not go live within 60 s. Its last error: ${error:-none reported}" >&2
  echo "Its log ($data/appliance.log) ends with:" >&2
  tail -10 "$data/appliance.log" >&2
  exit 1
fi

turn_note=""
if ((turn)); then
  turn_note="  TURN:     coturn on ${LECTERN_TURN_PORT:-3478} (see above); add &relay=1 to a link to use only the relay.
"
fi
cat <<MSG

  Lectern is running. Open these in a browser (Chromium, Chrome, Firefox):

  Student:  $base/join/$room?token=$(token student "Student")
  Teacher:  $base/join/$room?token=$(token teacher "Teacher")
  Guest:    $base/join/$room?token=$(token student "Guest" --guest)   (shared link: waits in the lobby)
  Admin:    ${admin:-$base/admin (already set up)}

${turn_note:-}  The classroom box publishes a test pattern, a tone and test slides (the teacher's laptop). Logs: $log, $data/appliance.log
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"
