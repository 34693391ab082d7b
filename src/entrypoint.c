// Forward routine registration to the Rust static library so the linker keeps it.
void R_init_rkeras_extendr(void *dll);

void R_init_rkeras(void *dll) {
    R_init_rkeras_extendr(dll);
}
