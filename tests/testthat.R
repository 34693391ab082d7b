library(testthat)
library(rkeras)

test_check("rkeras")
