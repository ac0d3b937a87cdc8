#!/usr/bin/env bash
# Checks what ships without building an image (a bitbake build takes hours and the network):
#   1. oelint-adv on the Yocto layer: zero errors
#   2. lectern-appliance-crates.inc matches Cargo.lock; LIC_FILES_CHKSUM matches Cargo.toml
#   3. the .deb packages build (packaging/build-deb.sh) and hold the expected files and Depends
#   4. systemd-analyze verify on the units (the cluster node template as instance lectern-hub@a); the
#      hub's sandbox exposure is at most 2.0
#   5. the shipped default configurations load and validate in the real binaries
# Installs oelint-adv into a venv under target/ (PyPI). Prints a summary; non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

work=target/packaging
venv=$work/venv
layer=yocto/meta-lectern
mkdir -p "$work"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
results=()
failed=0

pass() { results+=("PASS  $1"); }
fail() { results+=("FAIL  $1"); failed=1; }
skip() { results+=("SKIP  $1"); }
step() { echo "==> $1"; }

# --- tools -------------------------------------------------------------------------------------
step "tools"
if [[ ! -x $venv/bin/oelint-adv ]]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check oelint-adv \
        || echo "could not install oelint-adv from PyPI" >&2
fi
for bin in lectern-hub lectern-appliance; do
    if [[ ! -x target/debug/$bin ]]; then
        cargo build --quiet --locked -p lectern-hub -p lectern-appliance --bins || break
    fi
done

# --- 1. oelint-adv -----------------------------------------------------------------------------
step "oelint-adv $layer"
if [[ -x $venv/bin/oelint-adv ]]; then
    mapfile -t files < <(find "$layer" -type f \( -name '*.bb' -o -name '*.bbappend' -o -name '*.inc' -o -name '*.conf' \) | sort)
    # homepageping needs the network. The crates file is generated exactly like OE-core's
    # `bitbake -c update_crates` writes it (`SRC_URI += " \`), which inconspaces flags: allowed there.
    "$venv/bin/oelint-adv" --quiet --relpaths --release scarthgap --suppress oelint.vars.homepageping \
        "${files[@]}" >"$tmp/oelint.txt" 2>&1
    grep -v -- '-crates\.inc:[0-9]*:error:oelint\.vars\.inconspaces' "$tmp/oelint.txt" | grep ':error:' >"$tmp/oelint-errors.txt"
    errors=$(wc -l <"$tmp/oelint-errors.txt")
    warnings=$(grep -c ':warning:' "$tmp/oelint.txt")
    cat "$tmp/oelint-errors.txt"
    if ((errors == 0)); then pass "oelint-adv: ${#files[@]} files, 0 errors, $warnings warnings"; else fail "oelint-adv: $errors errors"; fi
else
    fail "oelint-adv: not installed (pip install oelint-adv failed)"
fi

# --- 2. crates.inc and license checksum ----------------------------------------------------------
step "crates.inc in sync with Cargo.lock"
inc=$layer/recipes-lectern/lectern-appliance/lectern-appliance-crates.inc
if python3 yocto/scripts/gen-crates-inc.py -o "$tmp/crates.inc" && diff -u "$inc" "$tmp/crates.inc" >"$tmp/crates.diff"; then
    pass "crates.inc: $(grep -c '^    crate://' "$inc") crates, matches Cargo.lock"
else
    head -20 "$tmp/crates.diff"
    fail "crates.inc is stale: run yocto/scripts/gen-crates-inc.py"
fi
recipe=$layer/recipes-lectern/lectern-appliance/lectern-appliance_git.bb
lic=$(grep -o 'file://Cargo.toml;beginline=[0-9]*;endline=[0-9]*;md5=[0-9a-f]*' "$recipe")
if [[ $lic =~ beginline=([0-9]+)\;endline=([0-9]+)\;md5=([0-9a-f]+) ]] &&
    [[ $(sed -n "${BASH_REMATCH[1]},${BASH_REMATCH[2]}p" Cargo.toml | md5sum | cut -d' ' -f1) == "${BASH_REMATCH[3]}" ]]; then
    pass "LIC_FILES_CHKSUM matches Cargo.toml"
else
    fail "LIC_FILES_CHKSUM in $recipe no longer matches Cargo.toml's license line"
fi

# --- 3. Debian packages --------------------------------------------------------------------------
step "Debian packages"
debs=$work/deb
if sh -n packaging/debian/*/postinst packaging/debian/*/prerm packaging/debian/*/postrm &&
    packaging/build-deb.sh --fast --bin-dir target/debug --out "$debs" >"$tmp/debs.txt"; then
    # check_deb DEB "Depends must mention" "Depends must not mention" FILE...
    check_deb() {
        local deb=$1 want=$2 unwanted=$3 missing=() f
        shift 3
        dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/contents"
        for f in "$@"; do grep -qxF "$f" "$tmp/contents" || missing+=("$f"); done
        local depends
        depends=$(dpkg-deb -f "$deb" Depends)
        for f in $want; do [[ $depends == *"$f"* ]] || missing+=("Depends: $f"); done
        for f in $unwanted; do [[ $depends != *"$f"* ]] || missing+=("Depends must not list $f"); done
        if ((${#missing[@]} == 0)); then pass "$(basename "$deb"): files and Depends"; else fail "$(basename "$deb"): ${missing[*]}"; fi
    }
    check_deb "$debs"/lectern-hub_*.deb "libc6 systemd tzdata" "gstreamer" \
        /usr/bin/lectern-hub /usr/lib/systemd/system/lectern-hub.service /usr/lib/systemd/system/lectern-hub@.service \
        /usr/lib/sysusers.d/lectern-hub.conf \
        /usr/lib/tmpfiles.d/lectern-hub.conf /usr/lib/sysctl.d/60-lectern-hub.conf /etc/lectern-hub/hub.toml \
        /usr/share/doc/lectern-hub/README.md
    [[ $(dpkg-deb -I "$debs"/lectern-hub_*.deb conffiles) == /etc/lectern-hub/hub.toml ]] ||
        fail "lectern-hub.deb: /etc/lectern-hub/hub.toml is not a conffile"
    # Every package that ships an element the box makes (appliance/src/media/catalog.rs).
    check_deb "$debs"/lectern-appliance_*.deb \
        "$(target/debug/lectern-appliance probe --packages debian | tr '\n' ' ')" "" \
        /usr/bin/lectern-appliance /usr/lib/systemd/system/lectern-appliance.service \
        /usr/lib/sysusers.d/lectern-appliance.conf /usr/lib/tmpfiles.d/lectern-appliance.conf \
        /usr/lib/lectern/appliance.toml /usr/share/doc/lectern-appliance/appliance.example.toml
    if command -v cargo-deb >/dev/null && [[ -x target/release/lectern-hub ]]; then
        if cargo deb -p lectern-hub --no-build --output "$tmp/cargo-deb.deb" >/dev/null 2>&1; then pass "cargo deb -p lectern-hub"; else fail "cargo deb -p lectern-hub"; fi
    else
        skip "cargo deb: cargo-deb or target/release/lectern-hub not present"
    fi
else
    fail "packaging/build-deb.sh (or maintainer script syntax)"
fi

# --- 4. systemd units ----------------------------------------------------------------------------
step "systemd units"
if command -v systemd-analyze >/dev/null; then
    for unit in lectern-hub lectern-appliance lectern-hub@a; do
        name=${unit%@*}
        # verify wants ExecStart= to exist: point it at the staged binary. A template is checked
        # as one of its instances (the template file beside it, as systemd finds it).
        bin=$PWD/$debs/$name/usr/bin/$name
        [[ -x $bin ]] || bin=$PWD/target/debug/$name
        src=systemd/$name.service
        [[ $unit == *@* ]] && src=systemd/$name@.service
        sed "s|/usr/bin/$name|$bin|" "$src" >"$tmp/$unit.service"
        [[ $unit == *@* ]] && cp "$tmp/$unit.service" "$tmp/$name@.service"
        if systemd-analyze verify --man=no "$tmp/$unit.service" 2>"$tmp/verify.txt" && ! [[ -s $tmp/verify.txt ]]; then
            pass "systemd-analyze verify $unit.service"
        else
            cat "$tmp/verify.txt"
            fail "systemd-analyze verify $unit.service"
        fi
        exposure=$(systemd-analyze security --offline=true --no-pager "$tmp/$unit.service" 2>/dev/null |
            sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        if [[ $name == lectern-hub ]]; then
            if [[ -n $exposure ]] && awk "BEGIN { exit !($exposure <= 2.0) }"; then
                pass "systemd-analyze security $unit.service: exposure $exposure (<= 2.0)"
            else
                fail "systemd-analyze security $unit.service: exposure ${exposure:-?} (> 2.0)"
            fi
        else
            results+=("INFO  systemd-analyze security $unit.service: exposure ${exposure:-?}")
        fi
    done
    for f in systemd/*.sysusers.conf; do
        if systemd-sysusers --dry-run --root="$tmp/sysroot" - <"$f" >/dev/null 2>"$tmp/sysusers.txt" &&
            ! grep -qiE "fail|error|ignoring|invalid" "$tmp/sysusers.txt"; then
            pass "systemd-sysusers --dry-run $f"
        else
            cat "$tmp/sysusers.txt"
            fail "systemd-sysusers --dry-run $f"
        fi
    done
else
    skip "systemd units: systemd-analyze not installed (apt-get install systemd)"
fi

# --- 5. shipped configurations --------------------------------------------------------------------
step "shipped configurations"
export RUST_BACKTRACE=0
for cfg in packaging/hub/hub.toml hub/hub.example.toml; do
    # `token` loads and validates the configuration without serving.
    if target/debug/lectern-hub token --config "$cfg" --data-dir "$tmp/hub-data" --room probe --role viewer \
        >/dev/null 2>"$tmp/hub.txt"; then
        pass "hub accepts $cfg"
    else
        cat "$tmp/hub.txt"
        fail "hub rejects $cfg"
    fi
done
# The appliance has no check-only mode: run it with the shipped files and no token. A valid
# configuration is saved as last-good.toml before the (expected) missing-token error; an invalid
# one stops at "loading the configuration". Neither touches a camera or the network.
appliance_config() {
    local label=$1 vendor=$2 admin=$3 state
    shift 3
    state=$(mktemp -d -p "$tmp")
    target/debug/lectern-appliance --vendor-config-dir "$vendor" --config "$admin" --state-dir "$state" "$@" \
        >/dev/null 2>"$tmp/appliance.txt"
    if [[ -f $state/last-good.toml ]] && ! grep -q 'loading the configuration' "$tmp/appliance.txt"; then
        pass "appliance accepts $label"
    else
        cat "$tmp/appliance.txt"
        fail "appliance rejects $label"
    fi
}
mkdir -p "$tmp/empty" "$tmp/example"
cp appliance/appliance.example.toml "$tmp/example/appliance.toml"
appliance_config "packaging/appliance/appliance.toml (+ --hub/--room)" packaging/appliance "$tmp/empty" \
    --hub http://127.0.0.1:9 --room probe
appliance_config "appliance/appliance.example.toml" "$tmp/empty" "$tmp/example"

# --- summary -------------------------------------------------------------------------------------
echo
echo "packaging checks ($((SECONDS - start)) s):"
printf '  %s\n' "${results[@]}"
exit $failed
