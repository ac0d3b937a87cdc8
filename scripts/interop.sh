#!/usr/bin/env bash
# Interop suite: WHIP/WHEP clients no one here wrote, against the real hub on loopback, each checking
# what it saw; prints a table (client, version, publish/view, check, result). docs/interop.md has the
# last run. Exit status 1 if a check failed or a client could not run ("known client issue" rows,
# limitations of the client itself, do not fail it).
#
#   scripts/interop.sh            all clients available here
#   INTEROP_ONLY=aiortc|eyevinn|webrtcbin scripts/interop.sh
#
# Needs: the debug binaries (`cargo build -p lectern-hub --bins`, done here), GStreamer 1.22 with
# webrtcbin, chromium, node/npm, openssl, jq (`scripts/deps.sh --test`), aiortc in target/netem-venv
# (installed from PyPI if missing, as tests/netem/need.sh does) and Eyevinn's clients with esbuild in
# tests/interop/eyevinn/node_modules (`npm ci` from its package-lock.json if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
only=${INTEROP_ONLY:-}
rows=()
failed=0
row() { rows+=("$1|$2|$3|$4|$5"); [[ $5 == pass || $5 == known* ]] || failed=1; }
# The JSON check lines of aiortc_whip_whep.py and eyevinn.mjs as table rows.
rows_from_json() {
  local client version role check result
  while IFS=$'\t' read -r client version role check result; do
    [[ -n $client ]] && row "$client" "$version" "$role" "$check" "$result"
  done < <(jq -r '[.client, .version, .role, .check,
    (if .ok then "pass" elif .known then "known client issue: \(.detail)" else "FAIL: \(.detail)" end)]
    | join("\t")' <<<"$1")
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cargo build --quiet -p lectern-hub --bins
hub_bin=${CARGO_TARGET_DIR:-target}/debug/lectern-hub

work=$(mktemp -d)
hub_pid=
cleanup() { [[ -n $hub_pid ]] && kill "$hub_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(free_port)
page_port=$(free_port) # Eyevinn's page: a second origin, allowed by cors_origins
base="http://127.0.0.1:$port"
stun="stun:stun.interop.invalid:3478"
cat >"$work/hub.toml" <<EOF
[http]
cors_origins = ["http://127.0.0.1:$page_port"]

[[media.ice_servers]]
urls = ["$stun"]
EOF
LECTERN_UDP_PORT=0 LECTERN_BIND_IP=127.0.0.1 LECTERN_SHARDS=1 \
  "$hub_bin" serve --config "$work/hub.toml" --listen "127.0.0.1:$port" --data-dir "$work" >"$work/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/hub.log" && break; sleep 0.1; done
grep -q "listening on" "$work/hub.log" || { cat "$work/hub.log"; echo "interop: the hub did not start" >&2; exit 1; }
token() { "$hub_bin" token --room "$1" --role "$2" --data-dir "$work" | tail -n 1; }

# aiortc: WHIP publisher (OPTIONS Link, POST, trickle PATCH, DELETE) and WHEP viewer (decodes).
if [[ -z $only || $only == aiortc ]]; then
  py=target/netem-venv/bin/python
  if ! "$py" -c 'import aiortc' 2>/dev/null; then
    echo "==> interop: installing aiortc (PyPI) into target/netem-venv"
    /usr/bin/python3 -m venv target/netem-venv
    target/netem-venv/bin/pip install --quiet --disable-pip-version-check aiortc
  fi
  set +e
  out=$(timeout 120 "$py" tests/interop/aiortc_whip_whep.py "$base" aiortc "$(token aiortc device)" \
    "$(token aiortc viewer)" "$stun" 2>"$work/aiortc.err")
  status=$?
  set -e
  rows_from_json "$out"
  if [[ $status -ne 0 && -z $out ]]; then
    row aiortc "?" "publish+view" "ran" "FAIL: exit $status: $(tail -n 3 "$work/aiortc.err" | tr '\n' ' ')"
  fi
fi

# Eyevinn's browser clients (bundled with esbuild) in Chromium, served from a second origin.
if [[ -z $only || $only == eyevinn ]]; then
  ey=tests/interop/eyevinn
  [[ -d $ey/node_modules/@eyevinn/whip-web-client ]] || (cd "$ey" && npm ci --no-audit --no-fund --loglevel=error)
  [[ -d tests/browser/node_modules/playwright-core ]] || (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  (cd "$ey" && npm run --silent bundle >/dev/null 2>&1)
  set +e
  out=$(timeout 120 node "$ey/eyevinn.mjs" "$base" eyevinn "$(token eyevinn device)" "$(token eyevinn viewer)" \
    "$page_port" "$stun" 2>"$work/eyevinn.err")
  status=$?
  set -e
  rows_from_json "$out"
  if [[ $status -ne 0 && -z $out ]]; then
    row "@eyevinn/whip-web-client" "?" "publish+view" "ran" \
      "FAIL: exit $status: $(tail -n 3 "$work/eyevinn.err" | tr '\n' ' ')"
  fi
fi

# webrtcbin (GStreamer 1.22, OpenSSL) with its default RSA certificate: WHIP publish + WHEP view.
if [[ -z $only || $only == webrtcbin ]]; then
  gst=$(gst-inspect-1.0 --version | sed -n 's/^GStreamer //p')
  if cargo test --quiet -p lectern-e2e --test webrtcbin_rsa >"$work/webrtcbin.log" 2>&1; then
    row webrtcbin "$gst" "publish+view" "default RSA DTLS certificate; viewer receives RTP" pass
  else
    row webrtcbin "$gst" "publish+view" "default RSA DTLS certificate; viewer receives RTP" \
      "FAIL: $(grep -m1 -A2 panicked "$work/webrtcbin.log" | tail -n 2 | tr '\n' ' ')"
  fi
fi

printf '\n| client | version | publish/view | check | result |\n|---|---|---|---|---|\n'
for r in "${rows[@]}"; do
  IFS='|' read -r client version role check result <<<"$r"
  printf '| %s | %s | %s | %s | %s |\n' "$client" "$version" "$role" "$check" "$result"
done
exit $failed
