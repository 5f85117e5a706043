#!/usr/bin/env bash
# scripts/test.sh — THE test command for kraftbridge (README, second set-up line).
#
#   ./scripts/test.sh [--setup-only] [--no-lint] [--no-cargo-test] [--no-acceptance] [-- PYTEST_ARGS...]
#
# On a fresh Debian 12 machine (as root, or with sudo) it installs what the tests need, then
# builds and tests:
#   1. system packages   kcat (real-client tests), zookeeper (legacy mode, later);
#                        `apt-get update` only when something is missing
#   2. python venv       $KB_VENV (default .venv) from tests/acceptance/requirements.txt;
#                        reinstalled only when that file or the Python version changes
#   3. cargo build       cargo build --profile ci --bin kraftbridge
#   4. lint              cargo fmt --all -- --check; cargo clippy --workspace --all-targets
#                        --profile ci -- -D warnings (clippy.toml files ban the clock, global
#                        randomness and hash-map iteration in the deterministic cores)
#   5. cargo test        cargo test --workspace --profile ci --no-fail-fast
# The `ci` profile (Cargo.toml) is release with debug assertions on, so the acceptance tests
# run an optimised server whose codec still asserts it never encodes a field the negotiated
# version cannot carry.
#   6. acceptance        pytest tests/acceptance (real server processes, real clients)
# Every phase runs under a timeout; any failure (and pytest collecting no test) exits non-zero.
#
# Environment (all optional):
#   CARGO_TARGET_DIR      honoured as cargo honours it (.ci/run sets a persistent one)
#   KB_VENV               virtualenv path (default <repo>/.venv)
#   KB_PYTHON             interpreter that creates the venv (default python3)
#   KB_CARGO_PROFILE      ci (default), release or dev, for phases 3 to 5
#   KB_CROSSCHECK_SMOKE   an external smoke script: when it names a file, the acceptance
#                         tests marked `crosscheck` run it too (deselected otherwise)
#   KB_TEST_TMP           pytest --basetemp (default <target dir>/acceptance-tmp; WIPED each run)
#   KB_TIMEOUT_APT, KB_TIMEOUT_PIP, KB_TIMEOUT_BUILD, KB_TIMEOUT_CARGO_TEST,
#   KB_TIMEOUT_PYTEST     per-phase limits in seconds (defaults below)
set -Eeuo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"

KB_VENV=${KB_VENV:-$REPO_ROOT/.venv}
KB_PYTHON=${KB_PYTHON:-python3}
KB_CARGO_PROFILE=${KB_CARGO_PROFILE:-ci}
REQUIREMENTS=$REPO_ROOT/tests/acceptance/requirements.txt
APT_PACKAGES=(kcat zookeeper)

TIMEOUT_APT=${KB_TIMEOUT_APT:-900}
TIMEOUT_PIP=${KB_TIMEOUT_PIP:-900}
TIMEOUT_BUILD=${KB_TIMEOUT_BUILD:-2700}
TIMEOUT_CARGO_TEST=${KB_TIMEOUT_CARGO_TEST:-1800}
TIMEOUT_PYTEST=${KB_TIMEOUT_PYTEST:-1500}

SETUP_ONLY=0
RUN_LINT=1
RUN_CARGO_TEST=1
RUN_ACCEPTANCE=1
PYTEST_ARGS=()

usage() {
    sed -n '2,/^set -Eeuo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --setup-only) SETUP_ONLY=1 ;;
        --no-lint) RUN_LINT=0 ;;
        --no-cargo-test) RUN_CARGO_TEST=0 ;;
        --no-acceptance) RUN_ACCEPTANCE=0 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; PYTEST_ARGS=("$@"); break ;;
        *) echo "test.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

case "$KB_CARGO_PROFILE" in
    ci|release) PROFILE_DIR=$KB_CARGO_PROFILE ;;
    dev) PROFILE_DIR=debug ;;
    *) echo "test.sh: KB_CARGO_PROFILE must be ci, release or dev, not '$KB_CARGO_PROFILE'" >&2
       exit 2 ;;
esac
CARGO_PROFILE_FLAG=(--profile "$KB_CARGO_PROFILE")

# ---------------------------------------------------------------------------------------------
# output helpers
# ---------------------------------------------------------------------------------------------
T_START=$(date +%s)
PHASE="start-up"
PHASE_T0=$T_START
SUMMARY=()

section() {
    PHASE=$1
    PHASE_T0=$(date +%s)
    printf '\n==================================================================\n'
    printf '==> %s   (+%ss)\n' "$PHASE" "$(( PHASE_T0 - T_START ))"
    printf '==================================================================\n'
}

phase_done() {
    local secs=$(( $(date +%s) - PHASE_T0 ))
    SUMMARY+=("$(printf '  %-48s ok  %5ss' "$PHASE" "$secs")")
    printf -- '--> %s: ok in %ss\n' "$PHASE" "$secs"
}

print_summary() {
    printf '\n==> summary\n'
    local line
    for line in "${SUMMARY[@]}"; do printf '%s\n' "$line"; done
}

die() {
    printf '\ntest.sh: FAILED in phase "%s": %s\n' "$PHASE" "$*" >&2
    print_summary >&2
    printf 'test.sh: FAIL after %ss\n' "$(( $(date +%s) - T_START ))" >&2
    exit 1
}

trap 'die "command failed (line $LINENO, exit $?)"' ERR

# run_bounded SECS CMD... — run CMD under `timeout` (its own process group, so that a timeout
# also stops what CMD started, e.g. server processes of the acceptance tests). Ctrl-C / SIGTERM
# on this script is forwarded to it. Returns CMD's exit status; 124 means timed out.
CHILD=
on_signal() {
    local sig=$1
    if [ -n "$CHILD" ]; then
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    printf '\ntest.sh: interrupted by SIG%s in phase "%s"\n' "$sig" "$PHASE" >&2
    exit 130
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

run_bounded() {
    local secs=$1
    shift
    local rc=0
    timeout --kill-after=30 "$secs" "$@" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        printf 'test.sh: "%s" hit its %ss limit\n' "$*" "$secs" >&2
    fi
    return "$rc"
}

# Prefix for commands that need root: nothing as root, `sudo -n` otherwise.
AS_ROOT=()
if [ "$(id -u)" -ne 0 ]; then
    AS_ROOT=(sudo -n)
fi

# ---------------------------------------------------------------------------------------------
# 1. system packages
# ---------------------------------------------------------------------------------------------
pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

section "1/6 system packages (apt: ${APT_PACKAGES[*]})"
missing=()
for p in "${APT_PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
done
# The venv needs the venv module (Debian's python3 ships it separately as python3-venv).
if ! "$KB_PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    command -v "$KB_PYTHON" >/dev/null 2>&1 || missing+=(python3)
    missing+=(python3-venv)
fi
if [ ${#missing[@]} -eq 0 ]; then
    echo "already installed: ${APT_PACKAGES[*]}"
else
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and no apt-get here; install them by hand"
    if [ ${#AS_ROOT[@]} -gt 0 ] && ! command -v sudo >/dev/null 2>&1; then
        die "missing ${missing[*]}: run as root (or with sudo) once to install them"
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    run_bounded "$TIMEOUT_APT" "${AS_ROOT[@]}" apt-get -o DPkg::Lock::Timeout=120 -q update ||
        die "apt-get update failed"
    run_bounded "$TIMEOUT_APT" "${AS_ROOT[@]}" apt-get -o DPkg::Lock::Timeout=120 -q install -y \
        --no-install-recommends "${missing[@]}" ||
        die "apt-get install ${missing[*]} failed"
fi
command -v kcat >/dev/null 2>&1 || die "kcat not on PATH after install"
[ -r /usr/share/java/zookeeper.jar ] || die "/usr/share/java/zookeeper.jar missing after install"
echo "kcat: $(kcat -V 2>&1 | grep -m1 '^Version' | cut -c1-100 || true)"
echo "zookeeper: $(dpkg-query -W -f='${Version}' zookeeper)"
phase_done

# ---------------------------------------------------------------------------------------------
# 2. python venv
# ---------------------------------------------------------------------------------------------
section "2/6 python venv ($KB_VENV)"
[ -r "$REQUIREMENTS" ] || die "$REQUIREMENTS not found"
VPY=$KB_VENV/bin/python
STAMP=$KB_VENV/.kraftbridge-requirements.sha256
want_stamp="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1) $("$KB_PYTHON" -c \
    'import sys; print("%d.%d.%d" % sys.version_info[:3])')"

venv_ok() {
    [ -x "$VPY" ] && [ -r "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] &&
        "$VPY" -c 'import kafka, confluent_kafka, aiokafka, pytest, pytest_timeout
assert kafka.__version__.startswith("3."), kafka.__version__' >/dev/null 2>&1
}

if venv_ok; then
    echo "up to date (requirements unchanged)"
else
    if [ -x "$VPY" ] && "$VPY" -c 'import sys' >/dev/null 2>&1 &&
        [ "$("$VPY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')" = \
          "$("$KB_PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')" ]; then
        echo "updating existing venv"
    else
        echo "creating venv with $(command -v "$KB_PYTHON") ($("$KB_PYTHON" --version 2>&1))"
        rm -rf "$KB_VENV"
        "$KB_PYTHON" -m venv "$KB_VENV" || die "python3 -m venv $KB_VENV failed"
    fi
    rm -f "$STAMP"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_DEFAULT_TIMEOUT=60
    run_bounded "$TIMEOUT_PIP" "$VPY" -m pip install -q -r "$REQUIREMENTS" ||
        die "pip install -r $REQUIREMENTS failed"
    "$VPY" -c 'import kafka, confluent_kafka, aiokafka, pytest, pytest_timeout
assert kafka.__version__.startswith("3."), "kafka-python 3.x needed, got " + kafka.__version__' ||
        die "venv imports failed after install"
    echo "$want_stamp" > "$STAMP"
fi
"$VPY" -c 'import sys, kafka, confluent_kafka, aiokafka, pytest
print("python %s; kafka-python %s; confluent-kafka %s (librdkafka %s); aiokafka %s; pytest %s" % (
    sys.version.split()[0], kafka.__version__, confluent_kafka.version()[0]
    if isinstance(confluent_kafka.version(), tuple) else confluent_kafka.version(),
    confluent_kafka.libversion()[0], aiokafka.__version__, pytest.__version__))'
phase_done

if [ "$SETUP_ONLY" -eq 1 ]; then
    print_summary
    printf 'test.sh: set-up done (--setup-only) in %ss\n' "$(( $(date +%s) - T_START ))"
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# 3. cargo build
# ---------------------------------------------------------------------------------------------
section "3/6 cargo build --profile $KB_CARGO_PROFILE --bin kraftbridge"
command -v cargo >/dev/null 2>&1 ||
    die "cargo not found (install the Rust toolchain with rustup; see README)"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    "$VPY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])') ||
    die "cargo metadata failed (is Cargo.toml valid?)"
echo "target dir: $TARGET_DIR   ($(cargo --version))"
run_bounded "$TIMEOUT_BUILD" cargo build "${CARGO_PROFILE_FLAG[@]}" --bin kraftbridge ||
    die "cargo build ${CARGO_PROFILE_FLAG[*]} --bin kraftbridge failed"
KB_BIN=$TARGET_DIR/$PROFILE_DIR/kraftbridge
[ -x "$KB_BIN" ] || die "build succeeded but $KB_BIN is missing"
export KB_BIN
echo "binary: $KB_BIN"
phase_done

# ---------------------------------------------------------------------------------------------
# 4. lint: the rules of docs/architecture.md that the build can check
# ---------------------------------------------------------------------------------------------
if [ "$RUN_LINT" -eq 1 ]; then
    section "4/6 lint (cargo fmt --check, cargo clippy -D warnings)"
    for component in rustfmt clippy; do
        cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 || {
            command -v rustup >/dev/null 2>&1 ||
                die "cargo ${component/rustfmt/fmt} is missing and there is no rustup to add it"
            run_bounded "$TIMEOUT_APT" rustup component add "$component" ||
                die "rustup component add $component failed"
        }
    done
    cargo fmt --all -- --check || die "cargo fmt --all -- --check: run 'cargo fmt --all'"
    run_bounded "$TIMEOUT_BUILD" cargo clippy --workspace --all-targets "${CARGO_PROFILE_FLAG[@]}" \
        -- -D warnings || die "cargo clippy found warnings (treated as errors)"
    phase_done
else
    SUMMARY+=("$(printf '  %-48s skipped (--no-lint)' "4/6 lint")")
fi

# ---------------------------------------------------------------------------------------------
# 5. cargo test
# ---------------------------------------------------------------------------------------------
if [ "$RUN_CARGO_TEST" -eq 1 ]; then
    section "5/6 cargo test --workspace ${CARGO_PROFILE_FLAG[*]}"
    run_bounded "$TIMEOUT_CARGO_TEST" \
        cargo test --workspace "${CARGO_PROFILE_FLAG[@]}" --no-fail-fast ||
        die "cargo test failed"
    phase_done
else
    SUMMARY+=("$(printf '  %-48s skipped (--no-cargo-test)' "5/6 cargo test")")
fi

# ---------------------------------------------------------------------------------------------
# 6. acceptance tests
# ---------------------------------------------------------------------------------------------
if [ "$RUN_ACCEPTANCE" -eq 1 ]; then
    section "6/6 acceptance tests (pytest tests/acceptance)"
    KB_TEST_TMP=${KB_TEST_TMP:-$TARGET_DIR/acceptance-tmp}
    echo "server logs and data: $KB_TEST_TMP (kept until the next run)"
    rc=0
    run_bounded "$TIMEOUT_PYTEST" "$VPY" -m pytest tests/acceptance -p no:cacheprovider \
        -ra --basetemp="$KB_TEST_TMP" "${PYTEST_ARGS[@]}" || rc=$?
    case "$rc" in
        0) ;;
        5) die "pytest collected no tests (exit 5); that counts as a failure" ;;
        *) die "pytest exited $rc; server logs under $KB_TEST_TMP" ;;
    esac
    phase_done
else
    SUMMARY+=("$(printf '  %-48s skipped (--no-acceptance)' "6/6 acceptance")")
fi

print_summary
printf 'test.sh: PASS in %ss\n' "$(( $(date +%s) - T_START ))"
