test_that("the R wrappers are the ones extendr generates from the engine's exports", {
  gen <- .Call("wrap__make_rkeras_wrappers", use_symbols = TRUE, package_name = "rkeras", PACKAGE = "rkeras")
  want <- new.env()
  eval(parse(text = gen), want)
  ns <- asNamespace("rkeras")
  calls_engine <- function(f) is.function(f) && any(grepl("^\\.Call\\(wrap__", deparse(body(f))))
  have <- Filter(function(n) calls_engine(get(n, ns)), ls(ns, all.names = TRUE))
  expect_setequal(have, ls(want))
  for (f in intersect(have, ls(want))) {
    expect_identical(formals(get(f, ns)), formals(want[[f]]), label = f)
    expect_identical(deparse(body(get(f, ns))), deparse(body(want[[f]])), label = f)
  }
})
