# Run by ./configure (and configure.win): find cargo and rustc (on PATH, then in
# ~/.cargo/bin), check the minimum Rust version, print both versions before anything
# compiles, and write src/Makevars (src/Makevars.win) from its template.
msrv <- "1.89.0"
windows <- .Platform$OS.type == "windows"
cargo_bin <- file.path(Sys.getenv(if (windows) "USERPROFILE" else "HOME"), ".cargo", "bin")
if (dir.exists(cargo_bin)) {
  Sys.setenv(PATH = paste(Sys.getenv("PATH"), cargo_bin, sep = .Platform$path.sep))
}

tool_version <- function(tool) {
  out <- tryCatch(system2(tool, "--version", stdout = TRUE, stderr = TRUE),
                  error = function(e) NULL, warning = function(w) NULL)
  if (is.null(out) || !length(out)) return(NULL)
  out[[1]]
}
hint <- paste0(
  "rkeras needs Rust's cargo and rustc, version ", msrv, " or newer.\n",
  "The simplest way to get them is rustup (https://rustup.rs):\n",
  if (windows) "  download and run rustup-init.exe, then: rustup target add x86_64-pc-windows-gnu\n"
  else "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y\n",
  "and then install rkeras again (rustup puts cargo in ~/.cargo/bin, which is searched).\n",
  "Distribution packages are often too old: Debian 12 ships rustc 1.63 and Debian 13\n",
  "rustc 1.85, both older than ", msrv, "; if yours is older, use rustup as above.\n",
  "If Rust is installed elsewhere, put its bin directory on PATH.")
cargo <- tool_version("cargo")
rustc <- tool_version("rustc")
if (is.null(cargo) || is.null(rustc)) {
  message("Error: ", if (is.null(cargo)) "cargo" else "rustc", " was not found.\n", hint)
  quit(status = 1)
}
message("using ", cargo)
message("using ", rustc)
ver <- regmatches(rustc, regexpr("[0-9]+\\.[0-9]+\\.[0-9]+", rustc))
if (!length(ver) || package_version(ver) < package_version(msrv)) {
  message("Error: rustc ", if (length(ver)) ver else "(unknown version)", " is too old.\n", hint)
  quit(status = 1)
}

debug <- nzchar(Sys.getenv("DEBUG"))
# The source tarball carries the crates (tools/vendor.sh); a git checkout fetches them.
vendored <- file.exists("src/rust/vendor.tar.xz")
message(if (vendored) "building offline from the vendored crates (src/rust/vendor.tar.xz)"
        else "no vendored crates: cargo fetches them (a development build)")
flags <- c(if (!debug) "--release", if (vendored) "--offline")
# RKERAS_TARGET_DIR keeps cargo's build outputs between installs (development and CI);
# by default they live in the package and are removed after the build.
target <- Sys.getenv("RKERAS_TARGET_DIR")
keep <- nzchar(target)
if (!keep) target <- "rust/target"
template <- if (windows) "src/Makevars.win.in" else "src/Makevars.in"
lines <- readLines(template)
subst <- c(
  "@CARGO_FLAGS@" = paste(flags, collapse = " "),
  "@PROFILE_DIR@" = if (debug) "debug" else "release",
  "@TARGET_DIR@" = target,
  "@VENDORED@" = if (vendored) "yes" else "no",
  "@CLEAN_CMD@" = if (keep) "true" else "rm -rf rust/target"
)
for (k in names(subst)) lines <- gsub(k, subst[[k]], lines, fixed = TRUE)
writeLines(lines, sub("\\.in$", "", template))
