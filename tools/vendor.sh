#!/bin/sh
# Vendor the crates for the source tarball: writes src/rust/vendor.tar.xz (every crate's
# source, so `R CMD INSTALL` of the tarball builds offline; the build unpacks it, see
# src/Makevars.in) and inst/AUTHORS (the crates' authors and licences). Run before
# `R CMD build`; needs the network (cargo fetches what it has not cached).
set -eu
cd "$(dirname "$0")/../src/rust"
rm -rf vendor vendor.tar.xz
cargo vendor --locked --versioned-dirs --quiet vendor >/dev/null
# Sorted names and fixed metadata: the same crates give the same archive.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2000-01-01 00:00Z' \
  -cJf vendor.tar.xz vendor
rm -rf vendor
cargo metadata --locked --format-version 1 >../../inst/crates.json.tmp
cd ../..
Rscript --vanilla tools/authors.R inst/crates.json.tmp inst/AUTHORS
rm -f inst/crates.json.tmp
echo "vendored $(tar -tJf src/rust/vendor.tar.xz | grep -c '^vendor/[^/]*/$') crates: src/rust/vendor.tar.xz ($(du -k src/rust/vendor.tar.xz | cut -f1) KiB)"
