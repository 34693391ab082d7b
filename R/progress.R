# Keras's progress output: `Epoch i/N`, then a 30-character bar with step counts, time
# per step and metrics (verbose = 1), or one line per epoch (verbose = 2). The bar is
# redrawn in place with \r only where the console supports it.

dynamic_display <- function() {
  isTRUE(getOption("rkeras.dynamic_display", interactive() || isatty(stdout())))
}

format_metric_value <- function(v) {
  if (is.na(v)) return("nan")
  if (abs(v) >= 1e-3 || v == 0) sprintf("%.4f", v) else sprintf("%.4e", v)
}

format_logs <- function(logs) {
  if (!length(logs)) return("")
  paste0(" - ", names(logs), ": ", vapply(unlist(logs), format_metric_value, ""), collapse = "")
}

format_step_time <- function(per_step) {
  if (per_step >= 1) sprintf("%.0fs/step", per_step)
  else if (per_step >= 1e-3) sprintf("%.0fms/step", per_step * 1e3)
  else sprintf("%.0fus/step", per_step * 1e6)
}

format_eta <- function(secs) {
  if (secs > 3600) sprintf("%d:%02d:%02d", secs %/% 3600, (secs %% 3600) %/% 60, secs %% 60)
  else if (secs > 60) sprintf("%d:%02d", secs %/% 60, secs %% 60)
  else sprintf("%ds", as.integer(secs))
}

new_progbar <- function(target, verbose) {
  env <- new.env(parent = emptyenv())
  env$target <- target
  env$verbose <- verbose
  env$start <- proc.time()[["elapsed"]]
  env$last_print <- -Inf
  env$dynamic <- dynamic_display()
  env
}

bar_text <- function(current, target) {
  width <- 30L
  w <- nchar(as.character(target))
  counter <- sprintf("%*d/%d", w, current, target)
  done <- if (target > 0) as.integer(width * current / target) else width
  bar <- if (current >= target) strrep("=", width)
         else paste0(strrep("=", max(done - 1L, 0L)), if (done > 0) ">" else "", strrep(".", width - max(done, 0L) - (done == 0)))
  if (current < target && done == 0) bar <- paste0(">", strrep(".", width - 1L))
  paste0(counter, " [", bar, "]")
}

progbar_update <- function(pb, current, logs = list(), finalize = FALSE) {
  if (pb$verbose == 0) return(invisible())
  now <- proc.time()[["elapsed"]]
  elapsed <- now - pb$start
  if (!finalize) {
    if (pb$verbose != 1 || !pb$dynamic || now - pb$last_print < 0.05) return(invisible())
    pb$last_print <- now
    eta <- if (current > 0) elapsed / current * (pb$target - current) else 0
    cat("\r", bar_text(current, pb$target), " - ETA: ", format_eta(eta), format_logs(logs), sep = "")
    utils::flush.console()
    return(invisible())
  }
  per_step <- elapsed / max(current, 1)
  if (pb$verbose == 1) {
    cat(if (pb$dynamic) "\r", bar_text(current, pb$target), " - ", sprintf("%.0fs", elapsed), " ",
        format_step_time(per_step), format_logs(logs), "\n", sep = "")
  } else {
    cat(sprintf("%d/%d", current, pb$target), " - ", sprintf("%.0fs", elapsed), format_logs(logs),
        " - ", sprintf("%.0fms/epoch", elapsed * 1e3), " - ", format_step_time(per_step), "\n", sep = "")
  }
  utils::flush.console()
  invisible()
}
