#!/usr/bin/env bash
# Rehearses the README's promise on a bare Debian 12: debootstraps a minimal bookworm into a folder,
# clones this checkout's HEAD into it (what a newcomer's `git clone` gets: committed files only, no
# target/), binds the host's Rust toolchain and cargo caches in, then runs, inside, what a newcomer
# runs: scripts/deps.sh, a release build, `lectern-appliance probe --check --virtual`, and
# scripts/demo.sh until the box is live (or it fails). Prints what was missing.
#
# Not part of CI: it takes minutes and needs root. The mirror is the one this machine's apt uses.
# Usage: sudo scripts/fresh-debian.sh [--keep] [DIR]    (default DIR: target/fresh-debian)
#        --keep: reuse DIR's system if it is already there (faster reruns; not a bare machine then)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

keep=0
if [[ ${1:-} == --keep ]]; then keep=1; shift; fi
root=$(realpath -m "${1:-target/fresh-debian}")
[[ $(id -u) -eq 0 ]] || { echo "error: run as root (debootstrap, chroot, mounts)" >&2; exit 1; }
home=${HOME:-/root}
[[ -d $home/.cargo && -d $home/.rustup ]] || { echo "error: no rustup toolchain in $home (.cargo, .rustup)" >&2; exit 1; }

mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
[[ -n $mirror ]] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
[[ -n $mirror ]] || { echo "error: cannot tell which Debian mirror this machine uses" >&2; exit 1; }

command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }

mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
bind() { # bind SRC DEST-inside-root
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  mounts+=("$root$2")
}

start=$SECONDS
if [[ $keep -eq 0 || ! -f $root/etc/debian_version ]]; then
  rm -rf "$root"
  echo "==> debootstrap bookworm (minbase) into $root from $mirror"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
    { tail -20 "$root.debootstrap.log"; exit 1; }
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc" && mounts+=("$root/proc")
bind /sys /sys
bind /dev /dev
bind /dev/pts /dev/pts
src=/root/lectern
# --keep also keeps the previous clone's build, so a rerun compiles only what changed.
[[ $keep -eq 1 && -d $root$src/target ]] && mv "$root$src/target" "$root/tmp/kept-target"
rm -rf "${root:?}$src"
git clone --quiet --no-hardlinks "$repo" "$root$src"
[[ -d $root/tmp/kept-target ]] && mv "$root/tmp/kept-target" "$root$src/target"
echo "==> cloned $(git -C "$repo" rev-parse --short HEAD) into $src"
bind "$home/.cargo" /root/.cargo
bind "$home/.rustup" /root/.rustup

env_inside=(/usr/bin/env -i HOME=/root PATH=/root/.cargo/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb)
inside() { chroot "$root" "${env_inside[@]}" "$@"; }

echo "==> on the bare system: $(inside cat /etc/debian_version), $(inside rustc --version)"
before=$(inside dpkg-query -W -f '${Package}\n' | sort)

echo "==> scripts/deps.sh"
inside bash -c "cd '$src' && scripts/deps.sh" 2>&1 | tail -5
after=$(inside dpkg-query -W -f '${Package}\n' | sort)
added=$(comm -13 <(echo "$before") <(echo "$after") | wc -l)
echo "    deps.sh installed $added packages"

echo "==> building the release binaries (inside$([[ $keep -eq 1 ]] && echo ", on the kept build" || echo ", from scratch"))"
build_ok=1
inside bash -c "cd '$src' && cargo build --release --bins --locked --quiet" >"$root/tmp/build.log" 2>&1 || build_ok=0
grep -E '^(error|warning: unused)' -A6 "$root/tmp/build.log" | head -30 || true

echo "==> lectern-appliance probe --check --virtual"
probe_ok=1
inside "$src/target/release/lectern-appliance" probe --check --virtual || probe_ok=0

# demo.sh inside, until it prints its links (the box is live) or stops; then stopped. Its own process
# group, so stopping it reaches demo.sh, whose trap stops the hub and the box. Succeeds if it went live.
demo_until_live() {
  local log=$1 pid ok=1
  setsid chroot "$root" "${env_inside[@]}" bash -c "cd '$src' && LECTERN_LISTEN=127.0.0.1:18080 \
    LECTERN_BOX_STATUS=127.0.0.1:18090 LECTERN_DATA_DIR=/tmp/lectern-demo scripts/demo.sh" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    if grep -q "Lectern is running" "$log"; then ok=0; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return $ok
}

echo "==> scripts/demo.sh (until the box is live)"
demo_log=$root/tmp/demo.log
demo_ok=0
demo_until_live "$demo_log" && demo_ok=1

# The bug this rehearsal exists for: without gstreamer1.0-x the box never went live. Take it away:
# the element check must name it, and demo.sh must put it back and go live.
echo "==> without gstreamer1.0-x: the element check, then scripts/demo.sh again"
inside env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq gstreamer1.0-x >/dev/null 2>&1 || true
named=0
check=$(inside "$src/target/release/lectern-appliance" probe --check --virtual 2>/dev/null || true)
echo "$check" | sed 's/^/    /'
[[ $check == *"gstreamer1.0-x"* ]] && named=1
again_ok=0
demo_until_live "$demo_log.2" && again_ok=1

echo
echo "fresh Debian 12 rehearsal ($((SECONDS - start)) s):"
echo "  deps.sh installed:           $added packages"
echo "  cargo build --release:       $([[ $build_ok -eq 1 ]] && echo ok || echo FAILED, see above)"
echo "  probe --check --virtual:     $([[ $probe_ok -eq 1 ]] && echo ok || echo MISSING ELEMENTS, see above)"
if [[ $demo_ok -eq 1 ]]; then
  echo "  demo.sh:                     the box went live"
else
  echo "  demo.sh:                     FAILED; its output ends with:"
  tail -15 "$demo_log" | sed 's/^/    /'
fi
echo "  without gstreamer1.0-x:      the check $([[ $named -eq 1 ]] && echo named it || echo 'did NOT name it'), and demo.sh $([[ $again_ok -eq 1 ]] && echo 'reinstalled it and went live' || echo FAILED)"
[[ $again_ok -eq 1 ]] || tail -15 "$demo_log.2" | sed 's/^/    /'
[[ $build_ok -eq 1 && $probe_ok -eq 1 && $demo_ok -eq 1 && $named -eq 1 && $again_ok -eq 1 ]]
