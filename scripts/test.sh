#!/usr/bin/env bash
# The project's test command: installs what the tests need, then runs the checks CI runs.
#
#   ./scripts/test.sh            everything (format, lints, unit + integration tests)
#   QUICK=1 ./scripts/test.sh    skip the long cluster tests
#
# Needs: the Rust toolchain (cargo), and root for apt-get and for the tests that build
# network namespaces (they skip with a message when not root).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

need_pkgs=()
command -v mariadb >/dev/null 2>&1 || need_pkgs+=(mariadb-client)
command -v sysbench >/dev/null 2>&1 || need_pkgs+=(sysbench)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v mkfs.ext4 >/dev/null 2>&1 || need_pkgs+=(e2fsprogs)
python3 -c 'import pymysql' >/dev/null 2>&1 || need_pkgs+=(python3-pymysql)
if ((${#need_pkgs[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${need_pkgs[@]}" >/dev/null || echo "warning: could not install ${need_pkgs[*]}; tests that need them will say they skipped"
  else
    echo "note: not root (or no apt-get): not installing ${need_pkgs[*]}; tests that need them will say they skipped"
  fi
fi
# PyMySQL from PyPI if Debian's package was not available.
python3 -c 'import pymysql' >/dev/null 2>&1 || pip install -q pymysql >/dev/null 2>&1 || true
# Django, for the test that runs its migrations and ORM against a cluster (Debian's
# python3 is "externally managed": pip needs --break-system-packages there).
if ! python3 -c 'import django' >/dev/null 2>&1; then
  python3 -m pip --version >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && apt-get install -y -qq python3-pip >/dev/null 2>&1; } || true
  python3 -m pip install -q 'django>=4.2' >/dev/null 2>&1 \
    || python3 -m pip install -q --break-system-packages 'django>=4.2' >/dev/null 2>&1 \
    || echo "warning: could not install Django with pip; the Django test will say it skipped"
fi

# One build from a clean clone gains nothing from incremental caches, which were the
# largest part of the target directory (5.5 GB of 13 GB). A developer who wants them
# sets CARGO_INCREMENTAL=1.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
disk() { df -h --output=avail,target . | tail -n 1 | awk '{print "disk free: " $1 " on " $2}'; }
disk

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

log "unit and crate tests"
cargo test --workspace --exclude quorate

log "cluster tests (real node processes on loopback)"
if [ "${QUICK:-0}" = 1 ]; then
  QUORATE_TEST_WRITE_SECS=10 cargo test -p quorate -- --test-threads=1
else
  cargo test -p quorate -- --test-threads=1
fi

disk

if [ "${FUZZ:-1}" = 1 ]; then
  # The fuzz targets build into fuzz/target with their own flags; on a throwaway CI
  # machine the debug test builds are no longer needed and their space is given back.
  if [ "${CI:-}" = true ]; then
    rm -rf "${CARGO_TARGET_DIR:-target}/debug"
    disk
  fi
  log "fuzzing: every network decoder for 60 s (FUZZ=0 skips)"
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  for target in decode peer http_body; do
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="${FUZZ_SECS:-60}" -rss_limit_mb=4096 2>&1 | tail -n 3)
  done
fi

log "all checks passed"
