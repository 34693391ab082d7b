# Check the examples in man/ against the installed rkeras (maintainer and CI; not shipped).
#
#   Rscript tools/check-examples.R [package directory, default "."]
#
# Fails (exit status 1) when an exported object has no Rd page with an \examples section,
# when an example (with its \donttest{} parts, as R CMD check --as-cran runs them) raises
# an error or a warning, takes more than 5 s, or leaves a file in its working directory,
# or when the examples add a file to the home directory. \dontrun{} parts are not run.
# Examples run as under R CMD check: not interactive, two threads.
# Prints one summary line on success; details of each problem otherwise.

args <- commandArgs(trailingOnly = TRUE)
pkg_dir <- normalizePath(if (length(args)) args[[1]] else ".", mustWork = TRUE)
time_limit <- 5

Sys.setenv("_R_CHECK_LIMIT_CORES_" = "TRUE")
suppressPackageStartupMessages(library(rkeras))

db <- tools::Rd_db(dir = pkg_dir)
exports <- parseNamespaceFile(basename(pkg_dir), dirname(pkg_dir))$exports
has_examples <- vapply(db, function(rd) "\\examples" %in% tools:::RdTags(rd), logical(1))
aliases <- lapply(db, function(rd) tools:::.Rd_get_metadata(rd, "alias"))
with_examples <- unique(unlist(aliases[has_examples]))
missing <- setdiff(exports, with_examples)

problems <- character()
if (length(missing)) {
  problems <- c(problems, paste0("exported without an example: ", paste(missing, collapse = ", ")))
}

home_files <- function() list.files("~", all.files = TRUE, no.. = TRUE)
home_before <- home_files()
times <- numeric()
grDevices::pdf(file = tempfile(fileext = ".pdf"))
for (rd_name in sort(names(db)[has_examples])) {
  ex_file <- tempfile(fileext = ".R")
  tools::Rd2ex(db[[rd_name]], ex_file, commentDontrun = TRUE, commentDonttest = FALSE)
  if (!file.exists(ex_file)) next
  work_dir <- tempfile("example-")
  dir.create(work_dir)
  old_wd <- setwd(work_dir)
  env <- new.env(parent = globalenv())
  output <- character()
  warned <- character()
  started <- proc.time()[["elapsed"]]
  result <- tryCatch({
    output <- utils::capture.output(
      withCallingHandlers(
        source(ex_file, local = env, echo = FALSE, print.eval = TRUE),
        message = function(m) invokeRestart("muffleMessage"),
        warning = function(w) {
          warned <<- c(warned, conditionMessage(w))
          invokeRestart("muffleWarning")
        }
      ),
      type = "output"
    )
    NULL
  }, error = function(e) conditionMessage(e))
  elapsed <- proc.time()[["elapsed"]] - started
  setwd(old_wd)
  times[rd_name] <- elapsed
  left <- list.files(work_dir, all.files = TRUE, no.. = TRUE, recursive = TRUE)
  unlink(work_dir, recursive = TRUE)
  if (!is.null(result)) {
    problems <- c(problems, sprintf("%s: error: %s", rd_name, result))
  }
  if (length(warned)) {
    problems <- c(problems, sprintf("%s: warning: %s", rd_name, unique(warned)))
  }
  if (elapsed > time_limit) {
    problems <- c(problems, sprintf("%s: took %.1f s (limit %d s)", rd_name, elapsed, time_limit))
  }
  if (length(left)) {
    problems <- c(problems, sprintf("%s: left files in its working directory: %s",
                                    rd_name, paste(left, collapse = ", ")))
  }
}
invisible(grDevices::dev.off())
new_in_home <- setdiff(home_files(), home_before)
if (length(new_in_home)) {
  problems <- c(problems, paste0("the examples wrote to the home directory: ",
                                 paste(new_in_home, collapse = ", ")))
}

if (length(problems)) {
  writeLines(problems)
  slow <- utils::head(sort(times, decreasing = TRUE), 5)
  writeLines(sprintf("slowest: %s", paste(sprintf("%s %.2fs", names(slow), slow), collapse = ", ")))
  quit(status = 1)
}
cat(sprintf("examples: %d Rd files run, %d exports covered, %.1f s in all (slowest %s %.2f s)\n",
            length(times), length(exports), sum(times),
            names(which.max(times)), max(times)))
