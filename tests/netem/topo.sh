#!/usr/bin/env bash
# The network test bed's topology and impairments: one router namespace joining a namespace per
# node (hub, box, s1 = a student, turn) by veth pairs, each node on its own private /24 that exists
# only inside these namespaces. Every impairment lives in the router namespace, on the router's
# side of a node's link, so deleting the namespaces removes every qdisc, IFB device, nft table,
# route and TUN device with them: nothing is ever added to the host's own namespace.
#
#   topo.sh up RUN                      create the namespaces lnt-RUN-{r,hub,box,s1,turn}
#   topo.sh set RUN LINK [IMPAIRMENT…]  replace LINK's impairments (none given = a clear link):
#       rate=KBIT   cap both ways (tc tbf on the router's egress; IFB + tbf for the node's uplink)
#       down=KBIT   cap towards the node only        up=KBIT   cap from the node only
#       loss=PCT    random loss each way (nft numgen)
#       blackout    drop everything                  cut       reset every TCP packet (nft reject with tcp reset)
#       delay=MS    one-way delay each way, jitter=MS ± uniform (TUN forwarder, order kept)
#       relayonly   from/to the hub only its HTTP port (TCP 8080); other nodes (the TURN server) stay reachable
#       noudp       no UDP from/to the hub (its HTTP port and ICE-TCP stay reachable)
#       only443     only TCP: the hub's HTTP port (standing in for the hub's 443) and TCP 443 on the TURN node
#   topo.sh readdress RUN NODE          move NODE to a new address on its subnet (.3, then back to .2):
#                                       add the new one, delete the old, route again (a network change)
#   topo.sh exec RUN NODE CMD…          run CMD inside NODE's namespace
#   topo.sh addr NODE                   NODE's address
#   topo.sh stats RUN LINK              the router's qdisc counters on LINK (tc -s)
#   topo.sh down RUN                    end every process inside the run's namespaces, delete them
#   topo.sh leftovers [RUN]             list what of RUN (or of any run) is left; exit 1 if anything
#
# LINK and NODE are one of: hub box s1 turn. RUN is a short id ([a-z0-9]{1,8}).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NODES=(hub box s1 turn)
HTTP_PORT=8080
QUEUE_MS=${NETEM_QUEUE_MS:-200} # tbf's queue: how long a packet may wait before it is dropped
PYTHON=$(command -v /usr/bin/python3 || command -v python3) # the delay forwarder is stdlib only

die() { echo "topo.sh: $*" >&2; exit 2; }
index_of() { local i; for i in "${!NODES[@]}"; do [[ ${NODES[$i]} == "$1" ]] && { echo $((i + 1)); return; }; done; die "unknown node '$1' (one of: ${NODES[*]})"; }
net_of() { echo "10.213.$(index_of "$1")"; }
addr() { echo "$(net_of "$1").2"; }
ns() { echo "lnt-$1-$2"; }
check_run() { [[ $1 =~ ^[a-z0-9]{1,8}$ ]] || die "run id '$1': 1-8 of [a-z0-9]"; }
rundir() { echo "${TMPDIR:-/tmp}/lnt-$1"; } # the delay forwarders' pid files and logs
in_r() { local run=$1; shift; ip netns exec "$(ns "$run" r)" "$@"; }

up() {
  local run=$1 r node n
  r=$(ns "$run" r)
  ip netns list | grep -q "^lnt-$run-" && die "run '$run' already exists: topo.sh down $run"
  mkdir -p "$(rundir "$run")"
  ip netns add "$r"
  ip -n "$r" link set lo up
  in_r "$run" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  in_r "$run" nft add table inet lnt
  in_r "$run" nft add chain inet lnt forward '{ type filter hook forward priority 0; policy accept; }'
  for node in "${NODES[@]}"; do
    n=$(ns "$run" "$node")
    ip netns add "$n"
    ip -n "$n" link set lo up
    ip link add "lnt-r-$node" netns "$r" type veth peer name "lnt-$node" netns "$n"
    ip -n "$r" addr add "$(net_of "$node").1/24" dev "lnt-r-$node"
    ip -n "$n" addr add "$(addr "$node")/24" dev "lnt-$node"
    ip -n "$r" link set "lnt-r-$node" up
    ip -n "$n" link set "lnt-$node" up
    # Only the bed's own range is routed: anything else is unreachable from inside.
    ip -n "$n" route add 10.213.0.0/16 via "$(net_of "$node").1"
    # The node's uplink is shaped on an IFB device fed from the router's ingress.
    ip -n "$r" link add "lnt-ifb-$node" type ifb
    ip -n "$r" link set "lnt-ifb-$node" up
    # The delay forwarder's TUN device (persistent; a forwarder attaches to it while delay is on).
    ip -n "$r" tuntap add dev "lnt-d-$node" mode tun
    ip -n "$r" link set "lnt-d-$node" up
    in_r "$run" sysctl -qw "net.ipv4.conf.lnt-d-$node.rp_filter=0" "net.ipv4.conf.lnt-r-$node.rp_filter=0"
    in_r "$run" nft add chain inet lnt "l_$node"
    in_r "$run" nft add rule inet lnt forward iifname "lnt-r-$node" jump "l_$node"
    in_r "$run" nft add rule inet lnt forward oifname "lnt-r-$node" jump "l_$node"
  done
}

tbf() { # RUN DEV KBIT
  local burst=$(($3 * 1000 / 8 / 50)) # 20 ms at the rate, at least two full packets
  ((burst < 3000)) && burst=3000
  in_r "$1" tc qdisc replace dev "$2" root tbf rate "$3kbit" burst "$burst" latency "${QUEUE_MS}ms"
}

clear_link() {
  local run=$1 link=$2 table
  table=$((100 + $(index_of "$link")))
  in_r "$run" ip rule del pref "$table" 2>/dev/null || true
  while in_r "$run" ip rule del pref "$((table + 100))" 2>/dev/null; do :; done
  stop_delay "$run" "$link"
  in_r "$run" tc qdisc del dev "lnt-r-$link" root 2>/dev/null || true
  in_r "$run" tc qdisc del dev "lnt-r-$link" ingress 2>/dev/null || true
  in_r "$run" tc qdisc del dev "lnt-ifb-$link" root 2>/dev/null || true
  in_r "$run" nft flush chain inet lnt "l_$link"
}

stop_delay() {
  local pidfile pid
  pidfile="$(rundir "$1")/delay-$2.pid"
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  rm -f "$pidfile"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do alive "$pid" || return 0; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
}

# Started by an earlier topo.sh, the forwarder is reaped by init, perhaps late: a zombie is gone.
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1; [[ $st != Z* ]]; }

start_delay() { # RUN LINK MS JITTER
  local run=$1 link=$2 table other dir pid
  table=$((100 + $(index_of "$link")))
  dir=$(rundir "$run")
  # Not through in_r: $! must be the forwarder itself (ip netns exec execs it), so stop_delay ends it.
  ip netns exec "$(ns "$run" r)" "$PYTHON" "$HERE/delay.py" --dev "lnt-d-$link" --delay "$3" --jitter "$4" \
    >"$dir/delay-$link.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/delay-$link.pid"
  for _ in $(seq 1 50); do # the forwarder prints "ready" once attached to the device
    grep -q '^ready' "$dir/delay-$link.log" 2>/dev/null && break
    alive "$pid" || die "delay forwarder for $link exited: $(cat "$dir/delay-$link.log")"
    sleep 0.1
  done
  grep -q '^ready' "$dir/delay-$link.log" || die "delay forwarder for $link not ready within 5 s"
  in_r "$run" ip route replace default dev "lnt-d-$link" table "$table"
  # From the node, and towards the node from every other link, through the forwarder; what it
  # writes back enters on lnt-d-LINK and is routed by the main table.
  in_r "$run" ip rule add pref "$table" iif "lnt-r-$link" lookup "$table"
  for other in "${NODES[@]}"; do
    [[ $other == "$link" ]] && continue
    in_r "$run" ip rule add pref "$((table + 100))" iif "lnt-r-$other" to "$(net_of "$link").0/24" lookup "$table"
  done
}

set_link() {
  local run=$1 link=$2 down="" upk="" delay="" jitter=0 arg
  local -a chain
  shift 2
  index_of "$link" >/dev/null
  clear_link "$run" "$link"
  chain=(inet lnt "l_$link")
  for arg in "$@"; do
    case $arg in
      rate=*) down=${arg#*=}; upk=${arg#*=} ;;
      down=*) down=${arg#*=} ;;
      up=*) upk=${arg#*=} ;;
      loss=*) in_r "$run" nft add rule "${chain[@]}" numgen random mod 100 '<' "${arg#*=}" drop ;;
      blackout) in_r "$run" nft add rule "${chain[@]}" drop ;;
      cut) in_r "$run" nft add rule "${chain[@]}" meta l4proto tcp reject with tcp reset ;;
      delay=*) delay=${arg#*=} ;;
      jitter=*) jitter=${arg#*=} ;;
      relayonly)
        local hub; hub=$(addr hub)
        in_r "$run" nft add rule "${chain[@]}" iifname "lnt-r-$link" ip daddr "$hub" tcp dport "$HTTP_PORT" accept
        in_r "$run" nft add rule "${chain[@]}" iifname "lnt-r-$link" ip daddr "$hub" drop
        in_r "$run" nft add rule "${chain[@]}" oifname "lnt-r-$link" ip saddr "$hub" tcp sport "$HTTP_PORT" accept
        in_r "$run" nft add rule "${chain[@]}" oifname "lnt-r-$link" ip saddr "$hub" drop ;;
      noudp)
        local hub; hub=$(addr hub)
        in_r "$run" nft add rule "${chain[@]}" ip daddr "$hub" meta l4proto udp drop
        in_r "$run" nft add rule "${chain[@]}" ip saddr "$hub" meta l4proto udp drop ;;
      only443)
        local hub turn; hub=$(addr hub); turn=$(addr turn)
        in_r "$run" nft add rule "${chain[@]}" iifname "lnt-r-$link" ip daddr "$hub" tcp dport "$HTTP_PORT" accept
        in_r "$run" nft add rule "${chain[@]}" iifname "lnt-r-$link" ip daddr "$turn" tcp dport 443 accept
        in_r "$run" nft add rule "${chain[@]}" oifname "lnt-r-$link" ip saddr "$hub" tcp sport "$HTTP_PORT" accept
        in_r "$run" nft add rule "${chain[@]}" oifname "lnt-r-$link" ip saddr "$turn" tcp sport 443 accept
        in_r "$run" nft add rule "${chain[@]}" drop ;;
      *) die "unknown impairment '$arg'" ;;
    esac
  done
  [[ -n $down ]] && tbf "$run" "lnt-r-$link" "$down"
  if [[ -n $upk ]]; then
    in_r "$run" tc qdisc add dev "lnt-r-$link" handle ffff: ingress
    # cls_matchall is not built into every kernel; u32 matching everything is.
    in_r "$run" tc filter add dev "lnt-r-$link" parent ffff: protocol all u32 match u32 0 0 \
      action mirred egress redirect dev "lnt-ifb-$link"
    tbf "$run" "lnt-ifb-$link" "$upk"
  fi
  [[ -n $delay ]] && start_delay "$run" "$link" "$delay" "$jitter"
  return 0
}

readdress() { # RUN NODE: .2 -> .3 or .3 -> .2 on the node's link, then its route again
  local run=$1 node=$2 n net old new
  n=$(ns "$run" "$node"); net=$(net_of "$node")
  if ip -n "$n" -4 addr show dev "lnt-$node" | grep -q "inet $net.2/"; then old=$net.2; new=$net.3; else old=$net.3; new=$net.2; fi
  # Deleting a primary address deletes its secondaries too, unless they are promoted.
  ip netns exec "$n" sysctl -qw "net.ipv4.conf.lnt-$node.promote_secondaries=1"
  ip -n "$n" addr add "$new/24" dev "lnt-$node"
  ip -n "$n" addr del "$old/24" dev "lnt-$node"
  ip -n "$n" route replace 10.213.0.0/16 via "$net.1" src "$new"
  echo "$new"
}

down() {
  local run=$1 n
  local -a spaces pids
  mapfile -t spaces < <(ip netns list | awk '{print $1}' | grep "^lnt-$run-" || true)
  # Every process the run started lives in one of its namespaces: end them all first.
  for n in "${spaces[@]}"; do
    mapfile -t pids < <(ip netns pids "$n" 2>/dev/null || true)
    if ((${#pids[@]})); then kill "${pids[@]}" 2>/dev/null || true; fi
  done
  for n in "${spaces[@]}"; do
    if ! emptied "$n" 50; then
      mapfile -t pids < <(ip netns pids "$n" 2>/dev/null || true)
      if ((${#pids[@]})); then kill -9 "${pids[@]}" 2>/dev/null || true; fi
      emptied "$n" 50 || echo "topo.sh: processes still in $n after SIGKILL" >&2
    fi
    ip netns del "$n"
  done
  rm -rf "$(rundir "$run")"
}

emptied() { # NS TRIES: true once no process is left in NS (checked every 0.1 s, TRIES times)
  local i
  for ((i = 0; i < $2; i++)); do
    [[ -z $(ip netns pids "$1" 2>/dev/null) ]] && return 0
    sleep 0.1
  done
  return 1
}

leftovers() { # what of the run (or of any run) is left, one line each
  local prefix="lnt-${1:+$1-}" n
  ip netns list | awk '{print $1}' | grep "^$prefix" | sed 's/^/namespace /' || true
  # Nothing of the bed belongs in the host's namespace: look there too.
  ip -o link show | awk -F': ' '{print $2}' | grep '^lnt-' | sed 's/^/link /' || true
  tc qdisc show | grep ' dev lnt-' | sed 's/^/qdisc /' || true
  nft list tables 2>/dev/null | grep -w lnt | sed 's/^/nft /' || true
}

cmd=${1:-}; shift || true
case $cmd in
  up) check_run "$1"; trap 'echo "topo.sh up failed: tearing down" >&2; down "$1"' ERR; up "$1" ;;
  set) check_run "$1"; set_link "$@" ;;
  exec) check_run "$1"; n=$(ns "$1" "$2"); index_of "$2" >/dev/null; shift 2; exec ip netns exec "$n" "$@" ;;
  addr) addr "$1" ;;
  readdress) check_run "$1"; index_of "$2" >/dev/null; readdress "$1" "$2" ;;
  stats) check_run "$1"; in_r "$1" tc -s qdisc show dev "lnt-r-$2"; in_r "$1" tc -s qdisc show dev "lnt-ifb-$2" ;;
  down) check_run "$1"; down "$1" ;;
  leftovers) [[ -n ${1:-} ]] && check_run "$1"; out=$(leftovers "${1:-}"); [[ -z $out ]] || { echo "$out"; exit 1; } ;;
  *) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d'; exit 2 ;;
esac
