#!/bin/sh
# Set up a Debian 12 machine for rkeras: R and the R packages it uses (all from Debian),
# Graphviz (plot(model) runs its dot), Fashion-MNIST (Debian's dataset-fashion-mnist), then
# build and install rkeras.
# Idempotent: packages already present are not reinstalled; cargo's build cache is kept
# in $RKERAS_TARGET_DIR between runs.
set -eu
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PKGS="r-base-dev r-cran-testthat r-cran-magrittr r-cran-rlang r-cran-withr r-cran-r6 \
r-cran-jsonlite r-cran-digest r-cran-generics r-cran-zeallot r-cran-knitr r-cran-rmarkdown \
r-cran-ggplot2 r-cran-png r-cran-processx r-cran-rstudioapi r-cran-pkgdown graphviz pandoc qpdf \
devscripts \
dataset-fashion-mnist"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "==> installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  PATH="$PATH:$HOME/.cargo/bin"; export PATH
fi
command -v cargo >/dev/null 2>&1 || { echo "rkeras needs Rust's cargo: apt-get install cargo, or see https://rustup.rs" >&2; exit 1; }

RKERAS_TARGET_DIR="${RKERAS_TARGET_DIR:-$HOME/.cache/rkeras/target}"
export RKERAS_TARGET_DIR
echo "==> building and installing rkeras (cargo build cache: $RKERAS_TARGET_DIR)"
R CMD INSTALL --no-multiarch . >/tmp/rkeras-install.log 2>&1 || { cat /tmp/rkeras-install.log; exit 1; }
grep -E "using (cargo|rustc)|DONE" /tmp/rkeras-install.log || true
