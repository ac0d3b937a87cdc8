#!/usr/bin/env bash
# Runs every check and test Lectern has: formatting, lints, unit and integration tests, and the
# end-to-end browser tests (hub + virtual appliance + headless Chromium). This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo build (binaries for the end-to-end tests)"
cargo build --workspace --bins --locked
echo "==> cargo test"
cargo test --workspace --locked
echo "==> packaging checks (Yocto layer lint, crates.inc in sync, .deb contents, systemd units, shipped configs)"
scripts/check-packaging.sh
echo "==> browser end-to-end tests"
cd tests/browser
node --test --test-concurrency=1
echo "==> network test bed: report arithmetic, and a 68 s smoke in network namespaces (the smoke skips unless root)"
node --test ../netem/summary.test.mjs ../netem/smoke.test.mjs
echo "==> network test bed: TURN over TLS with minted credentials, ICE restart after cuts, and the box replacing its session after its own (about 170 s; skip unless root)"
node --test --test-name-pattern='^(turntls|netchange|boxchange)' ../netem/reach.test.mjs
