#!/usr/bin/env bash
# Runs a small Lectern cluster on this machine (docs/cluster.md): PostgreSQL and Redis from Debian's
# packages, started in <data>/ on local ports, three hubs sharing them on loopback, and a virtual
# classroom box publishing room "demo" through the first hub. Prints links through the third hub
# (which sends the page to the hub that owns the room); Ctrl-C stops everything.
# Environment: LECTERN_DATA_DIR (default ./data-cluster), LECTERN_CLUSTER_PORT (the first hub's port,
# default 8081; the others follow), LECTERN_PG_PORT (55432), LECTERN_REDIS_PORT (56379),
# LECTERN_CLUSTER_BIN (use binaries already built there, e.g. target/debug, instead of building).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --cluster

data="${LECTERN_DATA_DIR:-$PWD/data-cluster}"
first="${LECTERN_CLUSTER_PORT:-8081}"
pg_port="${LECTERN_PG_PORT:-55432}"
redis_port="${LECTERN_REDIS_PORT:-56379}"
room=demo
if [[ -n "${LECTERN_CLUSTER_BIN:-}" ]]; then
  bin="$LECTERN_CLUSTER_BIN"
else
  echo "==> building (first time takes a few minutes)"
  cargo build --release --bins --locked
  bin=target/release
fi
"$bin/lectern-appliance" probe --check --virtual >/dev/null || {
  echo "error: the classroom box cannot run here: install the packages named by '$bin/lectern-appliance probe --check --virtual'" >&2
  exit 1
}

pids=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$pg_bin/initdb" ]] || { echo "error: no PostgreSQL server binaries under /usr/lib/postgresql" >&2; exit 1; }
# PostgreSQL refuses to run as root: as the `postgres` user then, in a directory it owns.
as_pg=()
if [[ $(id -u) -eq 0 ]]; then as_pg=(setpriv --reuid="$(id -u postgres)" --regid="$(id -g postgres)" --clear-groups); fi
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n "${pg_pid:-}" ]] && kill "$pg_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_port() { # port, what, pid
  for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { echo "error: $2 stopped; see $data" >&2; exit 1; }
    sleep 0.2
  done
  echo "error: $2 is not listening on $1 after 30 s" >&2
  exit 1
}

mkdir -p "$data"
chmod 755 "$data"
echo "==> PostgreSQL on 127.0.0.1:$pg_port ($data/pg)"
if [[ ! -d "$data/pg/data" ]]; then
  mkdir -p "$data/pg"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$data/pg"
  "${as_pg[@]}" "$pg_bin/initdb" -D "$data/pg/data" -U postgres -A trust -E UTF8 --no-locale >"$data/pg/initdb.log"
fi
"${as_pg[@]}" "$pg_bin/postgres" -D "$data/pg/data" -p "$pg_port" -k "$data/pg" -c listen_addresses=127.0.0.1 \
  >"$data/pg/postgres.log" 2>&1 &
pg_pid=$!
wait_port "$pg_port" PostgreSQL "$pg_pid"
db="postgres://postgres@127.0.0.1:$pg_port/lectern"
for _ in $(seq 1 50); do
  psql -h 127.0.0.1 -p "$pg_port" -U postgres -XAtqc "SELECT 1" postgres >/dev/null 2>&1 && break
  sleep 0.2
done
psql -h 127.0.0.1 -p "$pg_port" -U postgres -XAtqc "SELECT 1 FROM pg_database WHERE datname = 'lectern'" postgres | grep -q 1 ||
  psql -h 127.0.0.1 -p "$pg_port" -U postgres -Xqc "CREATE DATABASE lectern" postgres
LECTERN_DATABASE_URL="$db" "$bin/lectern-hub" db migrate --data-dir "$data/hub1" | tail -1

echo "==> Redis on 127.0.0.1:$redis_port"
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --dir "$data" >"$data/redis.log" 2>&1 &
pids+=($!)
wait_port "$redis_port" Redis "${pids[-1]}"

# Every node of a cluster shares the token secret.
[[ -s "$data/secret" ]] || (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$data/secret")
export LECTERN_SECRET
LECTERN_SECRET=$(cat "$data/secret")
urls=()
for i in 1 2 3; do
  port=$((first + i - 1))
  url="http://127.0.0.1:$port"
  mkdir -p "$data/hub$i"
  LECTERN_DATABASE_URL="$db" LECTERN_COORD_URL="redis://127.0.0.1:$redis_port" LECTERN_PUBLIC_URL="$url" \
    LECTERN_UDP_PORT=0 LECTERN_BIND_IP=127.0.0.1 \
    "$bin/lectern-hub" serve --listen "127.0.0.1:$port" --data-dir "$data/hub$i" >"$data/hub$i/out.log" 2>"$data/hub$i/hub.log" &
  pids+=($!)
  wait_port "$port" "hub $i" "${pids[-1]}"
  urls+=("$url")
  echo "==> hub $i on $url (log $data/hub$i/hub.log)"
done

token() { "$bin/lectern-hub" token --data-dir "$data/hub1" --room "$room" --role "$1" --name "$2" --ttl 12h | tail -1; }
"$bin/lectern-appliance" --virtual --content virtual --hub "${urls[0]}" --room "$room" --token "$(token device "Room 101")" \
  --state-dir "$data/appliance" --config "$data/appliance" --status-listen 127.0.0.1:0 2>"$data/appliance.log" &
pids+=($!)
echo "==> waiting for the classroom box to go live through hub 1 (up to 60 s)"
owner=""
for _ in $(seq 1 120); do
  owner=$(redis-cli -p "$redis_port" get "lectern:room:$room" 2>/dev/null | sed 's/#[0-9]*$//')
  [[ -n "$owner" ]] && grep -q "status=live" "$data/appliance.log" && break
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "the classroom box stopped:"; tail -20 "$data/appliance.log"; exit 1; }
  sleep 0.5
done
[[ -n "$owner" ]] || { echo "error: the room was not placed on any hub within 60 s; see $data/hub*/hub.log" >&2; exit 1; }
admin=$(cat "$data"/hub*/admin-setup-link 2>/dev/null | head -1 || true)

cat <<MSG

  A Lectern cluster is running: three hubs (${urls[*]}), PostgreSQL on $pg_port, Redis on $redis_port.
  Room "$room" is served by $owner; links through hub 3 send the page there.

  Student:  ${urls[2]}/join/$room?token=$(token student "Student")
  Teacher:  ${urls[2]}/join/$room?token=$(token teacher "Teacher")
  Admin:    ${admin:-${urls[0]}/admin (already set up)}

  Try: kill the owner's process (its pid is in 'ss -ltnp'); the box publishes again through hub 1 and
  the room comes back on another hub within about 10 s. Logs in $data. Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"
