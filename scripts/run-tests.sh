#!/bin/sh
# Set up (scripts/setup.sh) plus Chromium and the Python venv with TensorBoard used as
# oracles by the tests, then run every test: cargo test, clippy and fmt, testthat against
# the installed package, and R CMD check --as-cran on the built tarball (0 errors, 0
# warnings required).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
sh scripts/setup.sh
RKERAS_TARGET_DIR="${RKERAS_TARGET_DIR:-$HOME/.cache/rkeras/target}"
export RKERAS_TARGET_DIR

# Headless Chromium opens the live metrics page in the tests (view_metrics), as a user's
# browser would.
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  echo "==> installing chromium (the tests open the live metrics page in it)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

echo "==> Python venv with TensorBoard and Keras 3 (test oracles for event files and models)"
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
RKERAS_TB_PYTHON=$(sh tools/setup-python.sh)
RKERAS_KERAS_PYTHON="$RKERAS_TB_PYTHON"
export RKERAS_TB_PYTHON RKERAS_KERAS_PYTHON

echo "==> cargo test"
# The status is cargo's own (a pipe into grep would report grep's).
if ! (cd src/rust && cargo test --release --target-dir "$RKERAS_TARGET_DIR" -- --nocapture >/tmp/rkeras-cargo-test.log 2>&1); then
  tail -n 60 /tmp/rkeras-cargo-test.log; echo "cargo test failed"; exit 1
fi
grep -E "^test |test result|panicked|SKIPPED" /tmp/rkeras-cargo-test.log
if grep -q "^SKIPPED:" /tmp/rkeras-cargo-test.log; then
  echo "cargo test: a test could not run on this machine (SKIPPED above)"; exit 1
fi
(cd src/rust && cargo fmt --check && cargo clippy --release --all-targets --target-dir "$RKERAS_TARGET_DIR" -q -- -D warnings)

echo "==> testthat"
NOT_CRAN=true Rscript scripts/testthat.R | tee /tmp/rkeras-testthat.log
summary=$(grep -E "^[0-9]+ passed, [0-9]+ failed" /tmp/rkeras-testthat.log | tail -n 1)
case "$summary" in
  *" 0 failed, 0 skipped"*) ;;
  *) echo "testthat failed (failures or skips): ${summary:-no summary}"; grep -A3 "^── Skip\|^Skip (" /tmp/rkeras-testthat.log | head -40; exit 1 ;;
esac

echo "==> R CMD check"
CHECKDIR=$(mktemp -d)
cp -r "$ROOT" "$CHECKDIR/src"
rm -rf "$CHECKDIR/src/.git"
(cd "$CHECKDIR" && R CMD build src >build.log 2>&1 || { cat build.log; exit 1; })
TARBALL=$(ls "$CHECKDIR"/rkeras_*.tar.gz)
(cd "$CHECKDIR" && _R_CHECK_CRAN_INCOMING_=false _R_CHECK_CRAN_INCOMING_REMOTE_=false \
  _R_CHECK_FUTURE_FILE_TIMESTAMPS_=false \
  R CMD check --as-cran --no-manual --no-tests "$TARBALL" >check.log 2>&1) || true
tail -n 25 "$CHECKDIR/check.log"
status=$(grep -E "^Status:" "$CHECKDIR/check.log" || echo "Status: check did not finish")
case "$status" in
  *ERROR*|*WARNING*|*"did not finish"*) echo "R CMD check failed: $status"; cat "$CHECKDIR"/rkeras.Rcheck/00install.out 2>/dev/null | tail -30; exit 1 ;;
esac
echo "R CMD check: $status"
echo "$summary"
