# Write inst/AUTHORS from `cargo metadata`'s JSON: each vendored crate with its version,
# authors and licence (DESCRIPTION's copyright holders point here).
args <- commandArgs(trailingOnly = TRUE)
meta <- jsonlite::fromJSON(args[[1]], simplifyVector = FALSE)
pkgs <- Filter(function(p) !identical(p$name, "rkeras"), meta$packages)
pkgs <- pkgs[order(vapply(pkgs, `[[`, "", "name"), vapply(pkgs, `[[`, "", "version"))]
line <- function(p) {
  authors <- unlist(p$authors)
  who <- if (length(authors)) paste(sub(" <[^>]*>$", "", authors), collapse = ", ") else "(no authors listed)"
  sprintf("%s %s\n  authors: %s\n  licence: %s", p$name, p$version, who, p$license %||% p$license_file %||% "see its source")
}
`%||%` <- function(a, b) if (is.null(a)) b else a
writeLines(c(
  "The rkeras package includes the source code of the Rust crates below (in",
  "src/rust/vendor.tar.xz of the source package), compiled into its shared library.",
  "Each crate's licence text is in its directory in that archive.",
  "",
  vapply(pkgs, line, "")), args[[2]])
