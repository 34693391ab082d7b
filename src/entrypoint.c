// Forward routine registration to the Rust static library so the linker keeps it, and
// register the ALTREP class of model snapshots (snapshot.c).
#include <R_ext/Rdynload.h>

void R_init_rkeras_extendr(void *dll);
void rk_register_snapshot(DllInfo *dll);

void R_init_rkeras(DllInfo *dll) {
    R_init_rkeras_extendr(dll);
    rk_register_snapshot(dll);
}
