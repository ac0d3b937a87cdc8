#!/usr/bin/env bash
# How fast `lectern-hub db copy` moves an SQLite database into PostgreSQL (docs/cluster.md): an SQLite
# file migrated by the hub and filled with N rows each of audit trail, sessions and chat (Python's
# sqlite3, the tables' own columns), a PostgreSQL 15 server from Debian's package started in a temp dir
# on a free port (initdb and the server run as `postgres` when this runs as root), then the copy,
# timed. Needs the hub binary (`cargo build -p lectern-hub`; HUB=path to use another).
# Usage: scripts/measure-db-copy.sh [rows per table, default 100000]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-100000}
hub=$(realpath "${HUB:-${CARGO_TARGET_DIR:-target}/debug/lectern-hub}")
pg_bin=${LECTERN_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)}
dir=$(mktemp -d)
as=()
if [[ $(id -u) -eq 0 ]]; then
  chown postgres: "$dir"
  as=(setpriv --reuid="$(id -u postgres)" --regid="$(id -g postgres)" --clear-groups)
fi
cleanup() {
  "${as[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"

src="sqlite://$dir/src.db?mode=rwc"
"$hub" db migrate --data-dir "$dir" --url "$src"
python3 - "$dir/src.db" "$rows" <<'EOF'
import sqlite3, sys
db, n = sqlite3.connect(sys.argv[1]), int(sys.argv[2])
t0 = 1_700_000_000
db.execute("INSERT INTO rooms (id, created_at) VALUES ('lab-1', ?)", (t0,))
db.executemany("INSERT INTO admin_audit (at, actor, action, target, ip, details) VALUES (?, 'ada', 'room.update', 'lab-1', '192.0.2.1', ?)",
               ((t0 + i, '{"capacity":%d}' % (i % 40)) for i in range(n)))
db.executemany("INSERT INTO sessions (room_id, subject, name, role, transport, joined_at, left_at) VALUES ('lab-1', ?, ?, 'student', 'browser', ?, ?)",
               ((f"s{i}", f"Student {i}", t0 + i, t0 + i + 3000) for i in range(n)))
db.executemany("INSERT INTO chat_messages (room_id, message_id, sent_at, from_name, from_role, text) VALUES ('lab-1', ?, ?, ?, 'student', ?)",
               ((i, (t0 + i) * 1000, f"Student {i % 30}", f"message {i}: a question about forces") for i in range(n)))
db.commit()
EOF
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${as[@]}" "$pg_bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
# Durable settings (fsync on): what a real server does.
"${as[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
"$pg_bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE lectern" postgres
start=$(date +%s.%N)
"$hub" db copy --from "$src" --to "postgres://postgres@127.0.0.1:$port/lectern" | tail -n 4
end=$(date +%s.%N)
python3 -c "
rows, secs = 3 * $rows, $end - $start
print(f'db copy: {rows} rows (3 tables x $rows) in {secs:.1f} s = {rows / secs:,.0f} rows/s')"
