// A model's snapshot for R's own serialization (saveRDS(), save(), a saved workspace):
// a zero-length raw ALTREP vector kept in the model's environment. When R serializes it,
// its state is the model's `.keras` bytes (made by rkeras:::model_snapshot() at that
// moment); when R reads it back, it becomes those bytes, from which the model is rebuilt
// on first use (R/model-snapshot.R).
#include <R.h>
#include <Rinternals.h>
#include <R_ext/Altrep.h>
#include <R_ext/Rdynload.h>

static R_altrep_class_t snapshot_class;
static Rbyte no_bytes[1];

static R_xlen_t snap_length(SEXP x) { return 0; }
static void *snap_dataptr(SEXP x, Rboolean writeable) { return no_bytes; }
static const void *snap_dataptr_or_null(SEXP x) { return no_bytes; }

static Rboolean snap_inspect(SEXP x, int pre, int deep, int pvec,
                             void (*inspect_subtree)(SEXP, int, int, int)) {
    Rprintf(" rkeras model snapshot\n");
    return TRUE;
}

static SEXP snap_serialized_state(SEXP x) {
    SEXP env = R_altrep_data1(x);
    SEXP name = PROTECT(mkString("rkeras"));
    SEXP ns = PROTECT(R_FindNamespace(name));
    SEXP fn = PROTECT(findFun(install("model_snapshot"), ns));
    SEXP call = PROTECT(lang2(fn, env));
    int failed = 0;
    SEXP bytes = R_tryEvalSilent(call, R_GlobalEnv, &failed);
    UNPROTECT(4);
    return (failed || TYPEOF(bytes) != RAWSXP) ? R_NilValue : bytes;
}

static SEXP snap_unserialize(SEXP cls, SEXP state) {
    return TYPEOF(state) == RAWSXP ? state : allocVector(RAWSXP, 0);
}

static SEXP snap_new(SEXP env) { return R_new_altrep(snapshot_class, env, R_NilValue); }

// Defined in Rust (r_api/model.rs): where rk_snapshot_new() finds the constructor.
void rk_set_snapshot_ctor(SEXP (*ctor)(SEXP));

void rk_register_snapshot(DllInfo *dll) {
    snapshot_class = R_make_altraw_class("rkeras_snapshot", "rkeras", dll);
    R_set_altrep_Length_method(snapshot_class, snap_length);
    R_set_altrep_Inspect_method(snapshot_class, snap_inspect);
    R_set_altrep_Serialized_state_method(snapshot_class, snap_serialized_state);
    R_set_altrep_Unserialize_method(snapshot_class, snap_unserialize);
    R_set_altvec_Dataptr_method(snapshot_class, snap_dataptr);
    R_set_altvec_Dataptr_or_null_method(snapshot_class, snap_dataptr_or_null);
    rk_set_snapshot_ctor(snap_new);
}
