#!/usr/bin/env bash
# Fuzzes every parser that takes network input (fuzz/fuzz_targets/*.rs) with cargo-fuzz and
# libFuzzer on the nightly toolchain, each target for MINUTES (default 10).
#
#   scripts/fuzz.sh [MINUTES] [TARGET...]    fuzz (all targets if none is named)
#   scripts/fuzz.sh --seconds N [TARGET...]  the same, N seconds each
#   scripts/fuzz.sh --replay [TARGET...]     only run the committed inputs once (regressions)
#
# Inputs: fuzz/seeds/T (hand-written), fuzz/corpus/T (what fuzzing found, minimised after each
# run and committed), fuzz/regressions/T (inputs that once crashed: committed with their fix).
# Every run first replays all three. A crash is copied into fuzz/regressions/T and the script
# exits non-zero after the remaining targets. Not part of CI (it needs minutes per target); the
# property tests in hub/tests/parsers.rs run the same entry points on every `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
replay_only=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --replay) replay_only=1 ;;
        --seconds) seconds="$2"; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *[!0-9]*) targets+=("$1") ;;
        *) seconds=$(( $1 * 60 )) ;;
    esac
    shift
done

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: the nightly toolchain is not installed (rustup toolchain install nightly);" >&2
    echo "         without it only the property tests run: cargo test -p lectern-hub --test parsers" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Build once, with debug assertions (cargo-fuzz's default), so overflows count as crashes.
cargo +nightly fuzz build >/dev/null
failed=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t" "fuzz/regressions/$t"
    inputs=("fuzz/corpus/$t" "fuzz/seeds/$t" "fuzz/regressions/$t")
    # -max_len: the hub refuses SDP and signalling messages over 64 KiB before parsing them.
    flags=(-max_len=65536 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1)
    echo "== $t: replaying the committed inputs"
    if ! cargo +nightly fuzz run "$t" "${inputs[@]}" -- "${flags[@]}" -runs=0 >"fuzz/$t.log" 2>&1; then
        echo "!! $t: a committed input fails (fuzz/$t.log)"
        failed+=("$t")
        continue
    fi
    [ "$replay_only" = 1 ] && continue
    echo "== $t: fuzzing for ${seconds} s"
    if cargo +nightly fuzz run "$t" "${inputs[@]}" -- "${flags[@]}" -max_total_time="$seconds" >"fuzz/$t.log" 2>&1; then
        grep -E "stat::number_of_executed_units|cov:" "fuzz/$t.log" | tail -2 || true
        # Keep the committed corpus small: only inputs that add coverage.
        cargo +nightly fuzz cmin "$t" "fuzz/corpus/$t" -- -max_len=65536 >/dev/null 2>&1 || true
    else
        echo "!! $t: crashed (fuzz/$t.log)"
        for crash in fuzz/artifacts/"$t"/*; do
            [ -f "$crash" ] && cp "$crash" "fuzz/regressions/$t/" && echo "   kept $crash in fuzz/regressions/$t/"
        done
        failed+=("$t")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: failing targets: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, no crash"
