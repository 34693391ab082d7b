# ---- Python pickles ---------------------------------------------------------

rk_pk_globals <- c("numpy.ndarray", "numpy.dtype", "numpy.core.multiarray._reconstruct",
                   "numpy._core.multiarray._reconstruct", "_codecs.encode",
                   "__builtin__.bytes", "builtins.bytes")
rk_pk_opnames <- c(
  "28" = "MARK", "2e" = "STOP", "30" = "POP", "31" = "POP_MARK", "32" = "DUP",
  "46" = "FLOAT", "49" = "INT", "4a" = "BININT", "4b" = "BININT1", "4c" = "LONG",
  "4d" = "BININT2", "4e" = "NONE", "50" = "PERSID", "51" = "BINPERSID", "52" = "REDUCE",
  "53" = "STRING", "54" = "BINSTRING", "55" = "SHORT_BINSTRING", "56" = "UNICODE",
  "58" = "BINUNICODE", "61" = "APPEND", "62" = "BUILD", "63" = "GLOBAL", "64" = "DICT",
  "7d" = "EMPTY_DICT", "65" = "APPENDS", "67" = "GET", "68" = "BINGET", "69" = "INST",
  "6a" = "LONG_BINGET", "6c" = "LIST", "5d" = "EMPTY_LIST", "6f" = "OBJ", "70" = "PUT",
  "71" = "BINPUT", "72" = "LONG_BINPUT", "73" = "SETITEM", "74" = "TUPLE",
  "29" = "EMPTY_TUPLE", "75" = "SETITEMS", "47" = "BINFLOAT", "80" = "PROTO",
  "81" = "NEWOBJ", "82" = "EXT1", "83" = "EXT2", "84" = "EXT4", "85" = "TUPLE1",
  "86" = "TUPLE2", "87" = "TUPLE3", "88" = "NEWTRUE", "89" = "NEWFALSE", "8a" = "LONG1",
  "8b" = "LONG4", "42" = "BINBYTES", "43" = "SHORT_BINBYTES", "8c" = "SHORT_BINUNICODE",
  "8d" = "BINUNICODE8", "8e" = "BINBYTES8", "8f" = "EMPTY_SET", "90" = "ADDITEMS",
  "91" = "FROZENSET", "92" = "NEWOBJ_EX", "93" = "STACK_GLOBAL", "94" = "MEMOIZE",
  "95" = "FRAME", "96" = "BYTEARRAY8", "97" = "NEXT_BUFFER", "98" = "READONLY_BUFFER")

#' Read a Python pickle (protocols 2 to 4) of plain data and numpy arrays
#'
#' A stack machine over the opcodes that CIFAR's files (Python 2 cPickle,
#' protocol 2) and Python 3's dumps of dicts, lists and numpy arrays use.
#' Nothing is executed: as Keras's RestrictedUnpickler, only numpy's array
#' globals are accepted (plus `_codecs.encode` and `bytes`, Python 3's
#' protocol-2 spelling of bytes). Python 2 str and bytes become raw vectors,
#' unicode a UTF-8 string, int integer (double beyond 32 bits), float
#' double, bool logical, None NULL, list and tuple an unnamed list, dict a
#' named list, a numpy array an `rk_pk_ndarray` (`dtype` such as "u1",
#' `shape`, `fortran`, `data`: the raw bytes).
#' @noRd
rk_ds_read_pickle <- function(path, call = rlang::caller_env()) {
  b <- readBin(path, "raw", file.size(path))
  n <- length(b)
  fail <- function(what) {
    rk_abort(sprintf("%s is not a readable pickle: %s.", path, what), "io", call = call)
  }
  tryCatch(rk_pk_run(b, n, fail), error = function(e) {
    if (inherits(e, "rkeras_error")) stop(e)
    fail(sprintf("malformed data (%s)", conditionMessage(e)))
  })
}

#' The pickle machine's loop (see rk_ds_read_pickle)
#'
#' `stack` is a list used up to `top`; `smemo[i]` is the memo slot the value
#' at `stack[[i]]` was stored in (0: none), so that APPENDS, SETITEMS and
#' BUILD, which change a Python object in place, update the memo's copy too.
#' @noRd
rk_pk_run <- function(b, n, fail) {
  cap <- 4096L
  stack <- vector("list", cap)
  smemo <- integer(cap)
  top <- 0L
  marks <- integer(0L)
  memo <- vector("list", 256L)
  nmemo <- 0L
  pos <- 1L
  i32 <- function(p) readBin(b[p:(p + 3L)], "integer", 1L, size = 4L, endian = "little")
  take <- function(p, len) {
    if (is.na(len) || len < 0L || len > n - p + 1L) fail("it is truncated")
    if (len < 65536L) return(if (len == 0L) raw() else b[p:(p + len - 1L)])
    # for the image payload: a connection copies bytes in one go, while
    # b[p:q] builds and walks an index as long as the data (seconds for CIFAR)
    con <- rawConnection(b)
    on.exit(close(con))
    seek(con, p - 1)
    readBin(con, "raw", len)
  }
  line <- function(p) {
    if (p > n) fail("it is truncated")
    k <- match(as.raw(10L), b[p:min(n, p + 255L)])
    if (is.na(k)) fail("a text argument (GLOBAL or INT) is not terminated")
    rawToChar(b[p:(p + k - 1L)][-k])
  }
  repeat {
    if (pos > n) fail("it ends without a STOP opcode")
    if (top + 1L >= cap) {
      cap <- 2L * cap
      length(stack) <- cap
      length(smemo) <- cap
    }
    op <- b[pos]
    pos <- pos + 1L
    v <- switch(as.character(op),
      # BININT1: runs of them (CIFAR's label lists) are pushed in one step
      "4b" = {
        if (pos > n) fail("it is truncated")
        at <- seq.int(pos - 1L, min(n - 1L, pos + 8189L), by = 2L)
        m <- match(FALSE, b[at] == as.raw(0x4b), nomatch = length(at) + 1L) - 1L
        if (top + m >= cap) {
          cap <- 2L * cap + m
          length(stack) <- cap
          length(smemo) <- cap
        }
        idx <- top + seq_len(m)
        stack[idx] <- as.list(as.integer(b[at[seq_len(m)] + 1L]))
        smemo[idx] <- 0L
        top <- top + m
        pos <- pos - 1L + 2L * m
        next
      },
      "55" = , "43" = {                                  # SHORT_BINSTRING, SHORT_BINBYTES
        len <- as.integer(b[pos])
        v <- take(pos + 1L, len)
        pos <- pos + 1L + len
        v
      },
      "54" = , "42" = {                                  # BINSTRING, BINBYTES
        len <- i32(pos)
        v <- take(pos + 4L, len)
        pos <- pos + 4L + len
        v
      },
      "58" = , "8c" = {                                  # BINUNICODE, SHORT_BINUNICODE
        if (op == as.raw(0x58)) {
          len <- i32(pos)
          pos <- pos + 4L
        } else {
          len <- as.integer(b[pos])
          pos <- pos + 1L
        }
        v <- take(pos, len)
        pos <- pos + len
        rk_pk_unicode(v)
      },
      "71" = , "72" = , "94" = {                         # BINPUT, LONG_BINPUT, MEMOIZE
        if (op == as.raw(0x71)) {
          id <- as.integer(b[pos]) + 1
          pos <- pos + 1L
        } else if (op == as.raw(0x72)) {
          id <- i32(pos) + 1
          pos <- pos + 4L
        } else {
          id <- nmemo + 1L
        }
        if (is.na(id) || id < 1 || id > n || top < 1L) fail("a memo index is invalid")
        id <- as.integer(id)
        if (id > length(memo)) length(memo) <- max(2L * length(memo), id)
        nmemo <- max(nmemo, id)
        memo[id] <- stack[top]
        smemo[top] <- id
        next
      },
      "68" = , "6a" = {                                  # BINGET, LONG_BINGET
        if (op == as.raw(0x68)) {
          id <- as.integer(b[pos]) + 1
          pos <- pos + 1L
        } else {
          id <- i32(pos) + 1
          pos <- pos + 4L
        }
        if (is.na(id) || id < 1 || id > nmemo) fail("a memo index is invalid")
        id <- as.integer(id)
        top <- top + 1L
        stack[top] <- memo[id]
        smemo[top] <- id
        next
      },
      "28" = {                                           # MARK
        marks <- c(marks, top)
        next
      },
      "65" = , "74" = , "75" = {                         # APPENDS, TUPLE, SETITEMS
        if (!length(marks)) fail("a MARK is missing")
        k <- marks[length(marks)]
        marks <- marks[-length(marks)]
        items <- if (top > k) stack[(k + 1L):top] else list()
        top <- k
        if (op == as.raw(0x74)) {
          items
        } else {
          if (top < 1L) fail("a list or dict is missing")
          obj <- stack[[top]]
          if (!is.list(obj) || is.object(obj)) fail("APPENDS/SETITEMS lacks a list or dict")
          if (op == as.raw(0x65)) {
            obj <- c(obj, items)
          } else {
            if (length(items) %% 2L) fail("SETITEMS has a key without a value")
            keys <- vapply(items[c(TRUE, FALSE)], rk_pk_key, "")
            obj[keys] <- items[c(FALSE, TRUE)]
          }
          stack[top] <- list(obj)
          if (smemo[top] > 0L) memo[smemo[top]] <- list(obj)
          next
        }
      },
      "61" = , "73" = {                                  # APPEND, SETITEM
        k <- if (op == as.raw(0x61)) 1L else 2L
        if (top <= k) fail("APPEND or SETITEM lacks its operands")
        obj <- stack[[top - k]]
        if (!is.list(obj) || is.object(obj)) fail("APPEND/SETITEM lacks a list or dict")
        if (k == 1L) {
          obj <- c(obj, stack[top])
        } else {
          obj[rk_pk_key(stack[[top - 1L]])] <- stack[top]
        }
        top <- top - k
        stack[top] <- list(obj)
        if (smemo[top] > 0L) memo[smemo[top]] <- list(obj)
        next
      },
      "80" = {                                           # PROTO
        pos <- pos + 1L
        next
      },
      "95" = {                                           # FRAME
        pos <- pos + 8L
        next
      },
      "2e" = break,                                      # STOP
      "7d" = stats::setNames(list(), character()),       # EMPTY_DICT
      "5d" = , "29" = list(),                            # EMPTY_LIST, EMPTY_TUPLE
      "85" = , "86" = , "87" = {                         # TUPLE1, TUPLE2, TUPLE3
        k <- as.integer(op) - 0x84L
        if (top < k) fail("a TUPLE lacks its items")
        items <- stack[(top - k + 1L):top]
        top <- top - k
        items
      },
      "4a" = {                                           # BININT
        pos <- pos + 4L
        v <- i32(pos - 4L)
        if (is.na(v)) -2^31 else v                       # R has no integer -2^31
      },
      "4d" = {                                           # BININT2
        pos <- pos + 2L
        as.integer(b[pos - 2L]) + 256L * as.integer(b[pos - 1L])
      },
      "8a" = {                                           # LONG1
        len <- as.integer(b[pos])
        v <- take(pos + 1L, len)
        pos <- pos + 1L + len
        rk_pk_long(v)
      },
      "47" = {                                           # BINFLOAT
        pos <- pos + 8L
        readBin(take(pos - 8L, 8L), "double", 1L, size = 8L, endian = "big")
      },
      "49" = {                                           # INT (protocol 1)
        txt <- line(pos)
        pos <- pos + nchar(txt, "bytes") + 1L
        rk_pk_int_text(txt, fail)
      },
      "88" = TRUE, "89" = FALSE,                         # NEWTRUE, NEWFALSE
      "4e" = NULL,                                       # NONE
      "63" = {                                           # GLOBAL
        module <- line(pos)
        pos <- pos + nchar(module, "bytes") + 1L
        name <- line(pos)
        pos <- pos + nchar(name, "bytes") + 1L
        rk_pk_global(module, name, fail)
      },
      "93" = {                                           # STACK_GLOBAL
        if (top < 2L) fail("STACK_GLOBAL lacks its names")
        top <- top - 2L
        rk_pk_global(stack[[top + 1L]], stack[[top + 2L]], fail)
      },
      "52" = {                                           # REDUCE
        if (top < 2L) fail("REDUCE lacks its operands")
        top <- top - 2L
        rk_pk_reduce(stack[[top + 1L]], stack[[top + 2L]], fail)
      },
      "62" = {                                           # BUILD
        if (top < 2L) fail("BUILD lacks its operands")
        obj <- rk_pk_build(stack[[top - 1L]], stack[[top]], fail)
        top <- top - 1L
        stack[top] <- list(obj)
        if (smemo[top] > 0L) memo[smemo[top]] <- list(obj)
        next
      },
      {
        hex <- format(op)
        fail(sprintf("opcode 0x%s (%s) at byte %d is not supported", hex,
                     if (is.na(rk_pk_opnames[hex])) "unknown" else rk_pk_opnames[hex],
                     pos - 2L))
      })
    top <- top + 1L
    stack[top] <- list(v)
    smemo[top] <- 0L
  }
  if (top < 1L) fail("STOP finds an empty stack")
  stack[[top]]
}

#' Python unicode (UTF-8 bytes) as an R string; raw with class if it holds NULs
#' @noRd
rk_pk_unicode <- function(r) {
  if (any(r == as.raw(0L))) return(structure(r, class = "rk_pk_unicode"))
  s <- rawToChar(r)
  Encoding(s) <- "UTF-8"
  s
}

#' A dict key as an R name
#' @noRd
rk_pk_key <- function(k) {
  if (is.raw(k)) return(rawToChar(unclass(k)))
  if (is.character(k) && length(k) == 1L) return(k)
  if (is.numeric(k) && length(k) == 1L) return(format(k, scientific = FALSE))
  stop("a dict key is neither a string nor a number", call. = FALSE)
}

#' A string-ish pickle value (str, bytes or unicode) as an R string
#' @noRd
rk_pk_text <- function(x) if (is.raw(x)) rawToChar(unclass(x)) else as.character(x)

#' INT's decimal text; "00" and "01" are how protocol 1 writes False and True
#' @noRd
rk_pk_int_text <- function(txt, fail) {
  if (txt %in% c("00", "01")) return(txt == "01")
  v <- suppressWarnings(as.numeric(txt))
  if (is.na(v)) fail(sprintf("INT holds \"%s\"", txt))
  if (abs(v) <= .Machine$integer.max) as.integer(v) else v
}

#' LONG1: little-endian two's complement bytes, integer when it fits
#' @noRd
rk_pk_long <- function(r) {
  if (!length(r)) return(0L)
  v <- sum(as.double(r) * 256^(seq_along(r) - 1L))
  if (r[length(r)] >= as.raw(0x80)) v <- v - 256^length(r)
  if (abs(v) <= .Machine$integer.max) as.integer(v) else v
}

#' GLOBAL: only numpy's array globals and Python 3's bytes helpers
#' @noRd
rk_pk_global <- function(module, name, fail) {
  g <- paste(rk_pk_text(module), rk_pk_text(name), sep = ".")
  if (!g %in% rk_pk_globals) {
    fail(sprintf("it refers to `%s`; only numpy arrays and plain data are read", g))
  }
  structure(g, class = "rk_pk_global")
}

#' REDUCE: call one of the accepted globals on its argument tuple
#' @noRd
rk_pk_reduce <- function(f, args, fail) {
  if (!inherits(f, "rk_pk_global") || !is.list(args)) fail("REDUCE has no callable")
  g <- unclass(f)
  if (grepl("multiarray._reconstruct$", g)) {
    return(structure(list(dtype = NULL, shape = NULL, fortran = FALSE, data = raw()),
                     class = "rk_pk_ndarray"))
  }
  if (g == "numpy.dtype" && length(args) >= 1L) {
    return(structure(list(descr = rk_pk_text(args[[1L]])), class = "rk_pk_dtype"))
  }
  if (g == "_codecs.encode" && length(args) == 2L &&
      tolower(rk_pk_text(args[[2L]])) %in% c("latin1", "latin-1", "iso-8859-1")) {
    # Python 3 writes bytes in protocol 2 as encode(<the bytes as latin-1 text>)
    u <- as.integer(if (is.raw(args[[1L]])) args[[1L]] else charToRaw(args[[1L]]))
    lead <- which(u >= 0xC0L)
    if (any(u[lead] > 0xC3L)) fail("a latin-1 string holds a character above 255")
    if (length(lead)) {
      u[lead] <- (u[lead] - 0xC0L) * 64L + (u[lead + 1L] - 0x80L)
      u <- u[-(lead + 1L)]
    }
    return(as.raw(u))
  }
  if (grepl("bytes$", g) && !length(args)) return(raw())
  fail(sprintf("`%s` is called with arguments it does not take", g))
}

#' BUILD: set the state of a numpy array or dtype
#' @noRd
rk_pk_build <- function(obj, state, fail) {
  if (inherits(obj, "rk_pk_dtype")) return(obj)            # byte order etc.: not needed
  if (!inherits(obj, "rk_pk_ndarray") || !is.list(state)) fail("BUILD has no numpy array")
  if (length(state) == 5L) state <- state[-1L]             # drop the version
  if (length(state) != 4L || !inherits(state[[2L]], "rk_pk_dtype") ||
      !is.raw(state[[4L]])) {
    fail("a numpy array's state is not (shape, dtype, fortran, bytes)")
  }
  obj$shape <- as.numeric(unlist(state[[1L]]))
  obj$dtype <- sub("^[<>|=]", "", state[[2L]]$descr)
  obj$fortran <- isTRUE(state[[3L]]) || identical(state[[3L]], 1L)
  obj$data <- unclass(state[[4L]])
  obj
}
