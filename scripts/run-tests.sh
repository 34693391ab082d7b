#!/bin/sh
# Set up (scripts/setup.sh) plus Chromium and the Python venv with TensorBoard and Keras used
# as oracles by the tests, then run every test once: cargo test, clippy and fmt; the source
# tarball with its vendored crates, installed with no network and an empty cargo home, and
# loaded; R CMD check --as-cran on that tarball, which runs the testthat suite (0 failures,
# 0 warnings, 0 skips: a missing snapshot is only a warning), the examples and the vignettes
# (0 errors, 0 warnings); every export has an
# example; and the pkgdown site builds.
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

echo "==> source tarball with the vendored crates"
CHECKDIR=$(mktemp -d)
cp -r "$ROOT" "$CHECKDIR/src"
rm -rf "$CHECKDIR/src/.git" "$CHECKDIR/src/docs"
sh "$CHECKDIR/src/tools/vendor.sh"
if ! cmp -s "$ROOT/inst/AUTHORS" "$CHECKDIR/src/inst/AUTHORS"; then
  diff "$ROOT/inst/AUTHORS" "$CHECKDIR/src/inst/AUTHORS" | head -20
  echo "inst/AUTHORS does not list the vendored crates: run sh tools/vendor.sh and commit it"; exit 1
fi
(cd "$CHECKDIR" && R CMD build src >build.log 2>&1 || { cat build.log; exit 1; })
TARBALL=$(ls "$CHECKDIR"/rkeras_*.tar.gz)
echo "$(basename "$TARBALL"): $(du -k "$TARBALL" | cut -f1) KiB"

echo "==> offline install of the tarball (no network, an empty cargo home, no build cache)"
mkdir -p "$CHECKDIR/offline-lib" "$CHECKDIR/empty-cargo-home"
if unshare -n true 2>/dev/null; then NONET="unshare -n"; how="no network (unshare -n)"
else NONET=""; how="CARGO_NET_OFFLINE=true (unshare is not permitted here)"; fi
if ! $NONET env -u RKERAS_TARGET_DIR CARGO_HOME="$CHECKDIR/empty-cargo-home" CARGO_NET_OFFLINE=true \
    R CMD INSTALL --no-multiarch -l "$CHECKDIR/offline-lib" "$TARBALL" >"$CHECKDIR/offline.log" 2>&1; then
  tail -n 40 "$CHECKDIR/offline.log"; echo "offline install failed"; exit 1
fi
grep -E "using (cargo|rustc)|vendored" "$CHECKDIR/offline.log"
$NONET Rscript -e 'library(rkeras, lib.loc = commandArgs(TRUE)[1])
m <- keras_model_sequential() %>% layer_dense(2, activation = "softmax", input_shape = 3)
m %>% compile(loss = "categorical_crossentropy", optimizer = "adam")
h <- fit(m, matrix(runif(30), 10), to_categorical(rep(0:1, 5), 2), epochs = 2, verbose = 0)
stopifnot(length(h$metrics$loss) == 2)
cat("offline install loads and trains; installed size", format(structure(sum(file.size(
  list.files(find.package("rkeras", lib.loc = commandArgs(TRUE)[1]), recursive = TRUE, full.names = TRUE))),
  class = "object_size"), units = "MB"), "\n")' "$CHECKDIR/offline-lib"
echo "offline install: $how, CARGO_HOME empty"

echo "==> R CMD check --as-cran: the tests, examples and vignettes"
mkdir -p "$ROOT/tests/testthat/_artifacts"
(cd "$CHECKDIR" && NOT_CRAN=true RKERAS_ARTIFACTS="$ROOT/tests/testthat/_artifacts" \
  _R_CHECK_CRAN_INCOMING_=false _R_CHECK_CRAN_INCOMING_REMOTE_=false \
  _R_CHECK_FUTURE_FILE_TIMESTAMPS_=false \
  R CMD check --as-cran --no-manual "$TARBALL" >check.log 2>&1) || true
tail -n 30 "$CHECKDIR/check.log"
TESTLOG=$(ls "$CHECKDIR"/rkeras.Rcheck/tests/testthat.Rout* 2>/dev/null | head -n 1)
summary=$(grep -E "^\[ FAIL [0-9]+ \| WARN [0-9]+ \| SKIP [0-9]+ \| PASS [0-9]+ \]" "${TESTLOG:-/dev/null}" | tail -n 1 || true)
case "$summary" in
  *"FAIL 0 | WARN 0 | SKIP 0 |"*) ;;
  *) echo "testthat inside R CMD check failed, warned or skipped: ${summary:-no summary}"
     [ -n "$TESTLOG" ] && grep -B2 -A12 "── Failure\|── Error\|── Skip\|── Warning" "$TESTLOG" | head -80
     exit 1 ;;
esac
status=$(grep -E "^Status:" "$CHECKDIR/check.log" || echo "Status: check did not finish")
case "$status" in
  *ERROR*|*WARNING*|*"did not finish"*) echo "R CMD check failed: $status"; cat "$CHECKDIR"/rkeras.Rcheck/00install.out 2>/dev/null | tail -30; exit 1 ;;
esac
grep -A4 "NOTE" "$CHECKDIR/check.log" || true

echo "==> every export has a runnable example; the pkgdown site"
if [ -f tools/check-examples.R ]; then Rscript tools/check-examples.R; fi
if [ -f _pkgdown.yml ]; then
  Rscript -e 'options(pkgdown.internet = FALSE); pkgdown::build_site(install = FALSE, new_process = FALSE, preview = FALSE)' >"$CHECKDIR/pkgdown.log" 2>&1 ||
    { tail -n 40 "$CHECKDIR/pkgdown.log"; echo "pkgdown failed"; exit 1; }
  echo "pkgdown site: $ROOT/docs"
fi
echo "R CMD check: $status"
echo "testthat: $summary"
