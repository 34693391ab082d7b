# Operations on tensors. One function, op_apply(), applies an operation to its operands,
# which may be:
#   - symbols: the tensors an R function receives while it is recorded (a layer_lambda()
#     body, a loss written in R); the operation is added to the function's graph;
#   - a model's tensors (from layer_input() and layer calls); the operation becomes a
#     Lambda layer of the model, called on them;
#   - R arrays and numbers; the engine computes the value at once (the `k_*` functions
#     used eagerly).
# The engine computes every shape and value (`src/rust/src/ops`), so each operation is
# written once.

# ---- recording ---------------------------------------------------------------------------

#' A new graph of operations over inputs of full shapes `shapes` (NA: open axis)
#' @noRd
new_trace <- function(shapes) {
  tr <- new.env(parent = emptyenv())
  tr$inputs <- length(shapes)
  tr$nodes <- list()
  tr$shapes <- lapply(shapes, as.integer)
  tr
}

symbol <- function(tr, id) {
  structure(list(trace = tr, id = as.integer(id), shape = tr$shapes[[id + 1L]]),
            class = c("rkeras_symbol", "tensorflow.tensor"))
}

#' The symbols standing for a trace's inputs
#' @noRd
trace_inputs <- function(tr) lapply(seq_len(tr$inputs) - 1L, function(i) symbol(tr, i))

#' The graph's description for the engine, with `outputs` (symbols) as its outputs. The
#' model's tensors a loss read (see model_symbol()) become inputs after the others, in the
#' order they were first read; attribute `tensors` lists them.
#' @noRd
trace_graph <- function(tr, outputs) {
  out_ids <- vapply(outputs, function(s) s$id, 1L)
  reads <- which(vapply(tr$nodes, function(n) !is.null(n$tensor), TRUE))
  if (!length(reads)) return(list(inputs = tr$inputs, nodes = tr$nodes, outputs = I(out_ids)))
  n0 <- tr$inputs
  e <- length(reads)
  new_id <- integer(n0 + length(tr$nodes))
  new_id[seq_len(n0)] <- seq_len(n0) - 1L
  kept <- 0L
  for (j in seq_along(tr$nodes)) {
    k <- match(j, reads)
    new_id[n0 + j] <- if (!is.na(k)) n0 + k - 1L else { kept <- kept + 1L; n0 + e + kept - 1L }
  }
  nodes <- lapply(tr$nodes[-reads], function(n) list(call = n$call, args = I(new_id[n$args + 1L])))
  structure(list(inputs = n0 + e, nodes = nodes, outputs = I(new_id[out_ids + 1L])),
            tensors = lapply(tr$nodes[reads], `[[`, "tensor"))
}

#' The symbol of a model's tensor `t` read by the loss being recorded in `tr`
#' @noRd
model_symbol <- function(tr, t) {
  for (j in seq_along(tr$nodes)) {
    if (!is.null(tr$nodes[[j]]$tensor) && identical(tr$nodes[[j]]$tensor$node$key, t$node$key)) {
      return(symbol(tr, tr$inputs + j - 1L))
    }
  }
  tr$nodes[[length(tr$nodes) + 1L]] <- list(tensor = t)
  tr$shapes[[length(tr$shapes) + 1L]] <- c(NA_integer_, as.integer(t$shape))
  symbol(tr, length(tr$shapes) - 1L)
}

operand_kind <- function(x) {
  if (inherits(x, c("rkeras_symbol", "rkeras_weight"))) "symbol"
  else if (inherits(x, "rkeras_tensor")) "graph"
  else if ((is.numeric(x) || is.logical(x)) && length(x) >= 1) "value"
  else "bad"
}

#' A constant's description: its shape (dims, or the length of a vector, or none for a
#' single number) and values in row-major order
#' @noRd
const_call <- function(x) {
  d <- dim(x)
  if (is.null(d)) d <- if (length(x) == 1) integer() else length(x)
  v <- if (length(d) > 1) as.numeric(aperm(array(as.numeric(x), d), rev(seq_along(d)))) else as.numeric(x)
  list(op = "const", shape = I(as.integer(d)), values = I(v))
}

#' Apply operation `call` (the engine's description, a list) to `args`
#' @noRd
op_apply <- function(call, args, caller = rlang::caller_env()) {
  args <- lapply(args, function(a) if (inherits(a, "rkeras_weight")) weight_symbol(a, caller) else a)
  kinds <- vapply(args, operand_kind, "")
  if (any(kinds == "bad")) {
    k <- which(kinds == "bad")[[1]]
    rk_abort(sprintf("An operand of %s must be a tensor, an array or a number, not %s.",
                     call$op, show_value(args[[k]])), "type", caller)
  }
  if (any(kinds == "graph")) {
    # While a loss is recorded, operations on the model's tensors belong to the loss.
    tr <- if (any(kinds == "symbol")) args[[which(kinds == "symbol")[[1]]]]$trace else rk_cache$loss_trace
    if (!is.null(tr)) {
      if (!isTRUE(tr$reads_model)) {
        rk_abort("A model's tensors and the tensors of a function being recorded cannot meet in one operation.", "value", caller)
      }
      # A loss written in R that reads the model's tensors: they become inputs of its graph.
      args[kinds == "graph"] <- lapply(args[kinds == "graph"], function(t) model_symbol(tr, t))
      kinds[kinds == "graph"] <- "symbol"
      return(symbol_op(call, args, kinds, caller))
    }
    return(graph_op(call, args, kinds, caller))
  }
  if (any(kinds == "symbol")) return(symbol_op(call, args, kinds, caller))
  eager_op(call, args, caller)
}

#' Add the operation to the graph its symbols belong to; numbers become constants
#' @noRd
symbol_op <- function(call, args, kinds, caller) {
  tr <- args[[which(kinds == "symbol")[[1]]]]$trace
  for (a in args[kinds == "symbol"]) {
    if (!identical(a$trace, tr)) {
      rk_abort("Tensors of two different recorded functions cannot meet in one operation.", "value", caller)
    }
  }
  ids <- vapply(seq_along(args), function(k) {
    if (kinds[[k]] == "symbol") args[[k]]$id else add_node(tr, const_call(args[[k]]), integer(), caller)$id
  }, 1L)
  add_node(tr, call, ids, caller)
}

#' The graph of one operation `call` on `n` inputs
#' @noRd
one_op_graph <- function(call, n) {
  list(inputs = n, nodes = list(list(call = call, args = I(seq_len(n) - 1L))), outputs = I(n))
}

add_node <- function(tr, call, ids, caller) {
  shapes <- tr$shapes[ids + 1L]
  res <- rk_op_shapes(to_json(one_op_graph(call, length(ids))), lapply(shapes, as.double))
  if (!is.null(res$err)) res$err$message <- sprintf("%s: %s", call$op, res$err$message)
  shape <- rk_call(res, call = caller)[[1]]
  tr$nodes[[length(tr$nodes) + 1L]] <- list(call = call, args = I(as.integer(ids)))
  tr$shapes[[length(tr$shapes) + 1L]] <- as.integer(shape)
  symbol(tr, length(tr$shapes) - 1L)
}

#' An operation on a model's tensors: a Lambda layer called on them
#' @noRd
graph_op <- function(call, args, kinds, caller) {
  tensors <- list()
  keys <- character()
  for (a in args[kinds == "graph"]) {
    if (!a$node$key %in% keys) {
      tensors[[length(tensors) + 1L]] <- a
      keys <- c(keys, a$node$key)
    }
  }
  tr <- new_trace(lapply(tensors, function(t) c(NA, t$shape)))
  ins <- trace_inputs(tr)
  sym <- lapply(seq_along(args), function(k) {
    if (kinds[[k]] == "graph") ins[[match(args[[k]]$node$key, keys)]] else args[[k]]
  })
  out <- symbol_op(call, sym, ifelse(kinds == "graph", "symbol", kinds), caller)
  state <- new_layer_state(list(type = "layer", prefix = op_layer_name(call), class_name = "Lambda",
                                config = lambda_config(trace_graph(tr, list(out)))))
  call_on_tensors(state, tensors, call = caller)
}

op_layer_name <- function(call) {
  paste0("tf.", if (call$op %in% c("unary", "binary")) call$fn else if (call$op == "reduce") paste0("reduce_", call$kind)
                else call$op)
}

lambda_config <- function(graph, output_shape = NULL, arguments = list()) {
  list(`function` = list(rkeras_ops = graph), output_shape = output_shape,
       arguments = structure(arguments, names = names(arguments) %||% character()))
}

#' Compute an operation on R values at once; the result is an R array (a number for a
#' result of rank 0, a vector for rank 1)
#' @noRd
eager_op <- function(call, args, caller) {
  consts <- lapply(args, const_call)
  res <- rk_op_eval(to_json(one_op_graph(call, length(args))), lapply(consts, `[[`, "values"), lapply(consts, function(c) as.double(c$shape)),
                    as.double(draw_seed()))
  if (!is.null(res$err)) res$err$message <- sprintf("%s: %s", call$op, res$err$message)
  out <- rk_call(res, call = caller)[[1]]
  from_row_major(out$values, out$dim)
}

from_row_major <- function(values, d) {
  if (length(d) <= 1) return(values)
  aperm(array(values, rev(d)), rev(seq_along(d)))
}

# ---- tensors as R objects ----------------------------------------------------------------

#' @export
print.rkeras_symbol <- function(x, ...) {
  cat(sprintf("<rkeras symbolic tensor shape=(%s)>\n",
              paste(ifelse(is.na(x$shape), "None", x$shape), collapse = ", ")))
  invisible(x)
}

#' @export
dim.rkeras_symbol <- function(x) x$shape

operand_shape <- function(x) {
  switch(operand_kind(x),
         symbol = x$shape,
         graph = c(NA_integer_, x$shape),
         value = dim(x) %||% (if (length(x) == 1) integer() else length(x)),
         integer())
}

ops_fn <- c(`+` = "add", `-` = "sub", `*` = "mul", `/` = "div", `^` = "pow", `%%` = "mod",
            `%/%` = "floor_div", `==` = "equal", `!=` = "not_equal", `<` = "less",
            `<=` = "less_equal", `>` = "greater", `>=` = "greater_equal", `&` = "and", `|` = "or")

tensor_ops <- function(e1, e2) {
  if (missing(e2)) {
    if (.Generic == "-") return(op_apply(list(op = "unary", fn = "neg"), list(e1)))
    if (.Generic == "+") return(e1)
    if (.Generic == "!") return(op_apply(list(op = "unary", fn = "not"), list(e1)))
  }
  fn <- ops_fn[[.Generic]]
  op_apply(list(op = "binary", fn = fn), list(e1, e2))
}

#' Arithmetic, comparison and math on tensors
#'
#' R's operators (`+ - * / ^ %% %/% == != < <= > >= & | !`), math functions (`exp`, `log`,
#' `sqrt`, `abs`, `sign`, `round`, `floor`, `ceiling`, `sin`, `cos`, `tanh`, `log1p`,
#' `expm1`) and summaries (`sum`, `max`, `min`, `prod`, `any`, `all`, `mean`) applied to
#' a model's tensors or to the tensors a [layer_lambda()] function or a loss written in R
#' receives. Two operands broadcast as in NumPy: shapes are aligned on their last axes and
#' axes of size 1 stretch. Summaries reduce over every axis, the batch's included.
#' @param e1,e2,x Tensors, arrays or numbers.
#' @param ... Not used.
#' @param na.rm Not used (tensors hold no missing values).
#' @returns A tensor of the same kind as the operands.
#' @name tensor-ops
#' @examples
#' input <- layer_input(shape = 3)
#' output <- exp(input) * 2 + 1
#' model <- keras_model(input, output)
#' predict(model, matrix(0, 1, 3), verbose = 0)
NULL

#' @rdname tensor-ops
#' @export
Ops.rkeras_symbol <- tensor_ops

#' @rdname tensor-ops
#' @export
Ops.rkeras_tensor <- tensor_ops

#' @rdname tensor-ops
#' @export
Ops.rkeras_weight <- tensor_ops

math_fn <- c(exp = "exp", log = "log", sqrt = "sqrt", abs = "abs", sign = "sign", floor = "floor",
             ceiling = "ceil", sin = "sin", cos = "cos", tanh = "tanh", log1p = "log1p", expm1 = "expm1")

tensor_math <- function(x, ...) {
  if (.Generic == "round") {
    digits <- list(...)$digits %||% 0
    if (!identical(as.numeric(digits), 0)) {
      rk_abort("`round()` of a tensor rounds to whole numbers; `digits` is not supported.", "unsupported")
    }
    return(op_apply(list(op = "unary", fn = "round"), list(x)))
  }
  if (.Generic == "log" && !is.null(list(...)$base)) {
    return(op_apply(list(op = "unary", fn = "log"), list(x)) / log(list(...)$base))
  }
  fn <- math_fn[.Generic]
  if (is.na(fn)) rk_abort(sprintf("`%s()` is not supported on tensors.", .Generic), "unsupported")
  op_apply(list(op = "unary", fn = fn[[1]]), list(x))
}

#' @rdname tensor-ops
#' @export
Math.rkeras_symbol <- tensor_math

#' @rdname tensor-ops
#' @export
Math.rkeras_tensor <- tensor_math

#' @rdname tensor-ops
#' @export
Math.rkeras_weight <- tensor_math

tensor_summary <- function(..., na.rm = FALSE) {
  args <- list(...)
  if (length(args) != 1) rk_abort(sprintf("`%s()` of tensors takes one tensor.", .Generic), "value")
  kind <- switch(.Generic, sum = "sum", max = "max", min = "min", prod = "prod", any = "any", all = "all",
                 rk_abort(sprintf("`%s()` is not supported on tensors.", .Generic), "unsupported"))
  op_apply(list(op = "reduce", kind = kind, axes = NULL, keepdims = FALSE), args)
}

#' @rdname tensor-ops
#' @export
Summary.rkeras_symbol <- tensor_summary

#' @rdname tensor-ops
#' @export
Summary.rkeras_tensor <- tensor_summary

#' @rdname tensor-ops
#' @export
mean.rkeras_symbol <- function(x, ...) k_mean(x)

#' @rdname tensor-ops
#' @export
mean.rkeras_tensor <- function(x, ...) k_mean(x)

#' Slice a tensor as R slices arrays
#'
#' `x[, 1:3]`, `x[, 2]` (the axis dropped, as R's `drop = TRUE` drops it), `x[, , -1]`
#' (every entry but the first): one index per axis, the batch's first; a missing index
#' takes the whole axis.
#' @param x A tensor.
#' @param ... One index per axis.
#' @param drop Drop the axes indexed by a single number.
#' @returns A tensor.
#' @name tensor-slice
#' @keywords internal
NULL

tensor_slice <- function(x, ..., drop = TRUE) {
  shape <- operand_shape(x)
  idx <- as.list(sys.call())[-c(1, 2)]
  idx <- idx[names(idx) %||% rep("", length(idx)) != "drop"]
  if (length(idx) != length(shape)) {
    rk_abort(sprintf("A tensor of rank %d takes %d indices, got %d.", length(shape), length(shape), length(idx)), "value")
  }
  env <- parent.frame()
  out <- x
  dropped <- integer()
  for (k in seq_along(idx)) {
    if (identical(idx[[k]], quote(expr = ))) next
    i <- eval(idx[[k]], env)
    n <- shape[[k]]
    if (!is.numeric(i) || anyNA(i) || any(i != round(i)) || !length(i)) {
      rk_abort(sprintf("Index %d must be whole numbers, not %s.", k, show_value(i)), "value")
    }
    if (all(i < 0)) {
      if (is.na(n)) rk_abort(sprintf("Negative indices need the size of axis %d, which is open.", k), "value")
      i <- setdiff(seq_len(n), -i)
    }
    if (any(i < 1) || (!is.na(n) && any(i > n))) {
      rk_abort(sprintf("Index %d is out of bounds for axis %d of size %s.", k, k, if (is.na(n)) "None" else n), "value")
    }
    out <- op_apply(list(op = "take", axis = k - 1L, indices = I(as.integer(i - 1L))), list(out))
    if (drop && length(i) == 1) dropped <- c(dropped, k - 1L)
  }
  for (a in rev(dropped)) out <- op_apply(list(op = "squeeze", axis = a), list(out))
  out
}

#' @rdname tensor-slice
#' @export
`[.rkeras_symbol` <- tensor_slice

#' @rdname tensor-slice
#' @export
`[.rkeras_tensor` <- tensor_slice

#' Keras for R's axis (1-based, negative from the end) as the engine's (0-based)
#' @noRd
axis_index <- function(axis, rank, arg = "axis", extra = 0L, call = rlang::caller_env()) {
  n <- rank + extra
  ok <- is.numeric(axis) && length(axis) == 1 && !is.na(axis) && axis == round(axis) &&
    axis != 0 && abs(axis) <= n
  if (!isTRUE(ok)) {
    rk_abort(sprintf("`%s` must be an axis of a tensor of rank %d: 1 to %d, or -1 to -%d from the end; not %s.",
                     arg, n, n, n, show_value(axis)), "value", call)
  }
  as.integer(if (axis > 0) axis - 1 else n + axis)
}

axes_index <- function(axis, rank, arg = "axis", call = rlang::caller_env()) {
  if (is.null(axis)) return(NULL)
  vapply(axis, function(a) axis_index(a, rank, arg, call = call), 1L)
}
