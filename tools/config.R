# Run by ./configure: find cargo and rustc, check the minimum Rust version, print
# both versions before anything compiles, and write src/Makevars from Makevars.in.
msrv <- "1.80.0"
path <- Sys.getenv("PATH")
cargo_bin <- file.path(Sys.getenv("HOME"), ".cargo", "bin")
if (dir.exists(cargo_bin)) Sys.setenv(PATH = paste(path, cargo_bin, sep = .Platform$path.sep))

tool_version <- function(tool) {
  out <- tryCatch(system2(tool, "--version", stdout = TRUE, stderr = TRUE),
                  error = function(e) NULL, warning = function(w) NULL)
  if (is.null(out) || !length(out)) return(NULL)
  out[[1]]
}
hint <- paste0("rkeras needs Rust's cargo and rustc (>= ", msrv, ").\n",
               "Install them with your system's package manager (Debian: apt-get install cargo)\n",
               "or from https://rustup.rs, then install rkeras again.")
cargo <- tool_version("cargo")
rustc <- tool_version("rustc")
if (is.null(cargo) || is.null(rustc)) stop("cargo or rustc not found.\n", hint, call. = FALSE)
message("using ", cargo)
message("using ", rustc)
ver <- regmatches(rustc, regexpr("[0-9]+\\.[0-9]+\\.[0-9]+", rustc))
if (!length(ver) || package_version(ver) < package_version(msrv)) {
  stop("rustc ", ver, " is too old.\n", hint, call. = FALSE)
}

debug <- nzchar(Sys.getenv("DEBUG"))
vendored <- file.exists("src/rust/vendor.tar.xz")
flags <- c(if (!debug) "--release", if (vendored) "--offline")
# RKERAS_TARGET_DIR keeps cargo's build outputs between installs (development and CI);
# by default they live in the package and are removed after the build.
target <- Sys.getenv("RKERAS_TARGET_DIR")
keep <- nzchar(target)
if (!keep) target <- "rust/target"
lines <- readLines("src/Makevars.in")
subst <- c(
  "@CARGO_FLAGS@" = paste(flags, collapse = " "),
  "@PROFILE_DIR@" = if (debug) "debug" else "release",
  "@TARGET_DIR@" = target,
  "@CARGO_ENV@" = "",
  "@CLEAN_CMD@" = if (keep) "true" else "rm -rf rust/target"
)
for (k in names(subst)) lines <- gsub(k, subst[[k]], lines, fixed = TRUE)
writeLines(lines, "src/Makevars")
