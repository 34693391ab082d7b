#!/bin/sh
# Creates the Python environment(s) for the Keras anchors of the rkeras benchmark.
#
#   sh bench/setup.sh            # idempotent: does nothing when the venv already works
#
# One venv at ${RKERAS_BENCH_VENV:-$HOME/.cache/rkeras/venv-bench} holding
# tensorflow-cpu, keras (Keras 3) and jax[cpu]. Should pip be unable to install
# them together, it falls back to two venvs beside it, venv-tf and venv-jax.
# Prints the interpreter for each backend and writes them to pythons.env in the
# venvs' parent folder, where bench/bench_fit.R finds them.
#
# Environment:
#   RKERAS_BENCH_VENV   venv path (default $HOME/.cache/rkeras/venv-bench)
#   PYTHON              interpreter that creates the venv (default python3.11, else python3)
#   RKERAS_BENCH_PIN=0  install the newest versions instead of the tested pins below
#   RKERAS_BENCH_FORCE=1  rebuild even if the venv already works
set -eu

VENV=${RKERAS_BENCH_VENV:-$HOME/.cache/rkeras/venv-bench}
BASE=$(dirname "$VENV")
VENV_TF=$BASE/venv-tf
VENV_JAX=$BASE/venv-jax
ENVFILE=$BASE/pythons.env

# Versions pip resolved together on Python 3.11 (tested): one venv suffices.
TF_PKG="tensorflow-cpu==2.21.0"
KERAS_PKG="keras==3.15.1"
JAX_PKG="jax[cpu]==0.10.2"
if [ "${RKERAS_BENCH_PIN:-1}" = 0 ]; then
  TF_PKG=tensorflow-cpu; KERAS_PKG=keras; JAX_PKG="jax[cpu]"
fi

if [ -z "${PYTHON:-}" ]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

say() { printf '%s\n' "setup.sh: $*" >&2; }

# has PY MODULE...: true when every module's distribution is installed in PY.
has() {
  py=$1; shift
  [ -x "$py" ] || return 1
  "$py" - "$@" >/dev/null 2>&1 <<'EOF'
import importlib.metadata as m, importlib.util as u, sys
for mod in sys.argv[1:]:
    if u.find_spec(mod) is None:
        sys.exit(1)
if not m.version("keras").startswith("3."):
    sys.exit(1)
EOF
}

versions() {
  "$1" - <<'EOF'
import importlib.metadata as m, platform
out = ["python " + platform.python_version()]
for d in ("tensorflow-cpu", "keras", "jax", "jaxlib", "numpy", "ml_dtypes"):
    try:
        out.append(d + " " + m.version(d))
    except m.PackageNotFoundError:
        pass
print("  " + ", ".join(out))
EOF
}

# mkvenv DIR PKG...: (re)create DIR and pip-install the packages; fails if pip fails.
mkvenv() {
  dir=$1; shift
  say "creating $dir with $PYTHON ($*)"
  rm -rf "$dir" || return 1
  mkdir -p "$(dirname "$dir")" || return 1
  "$PYTHON" -m venv "$dir" || return 1
  "$dir/bin/python" -m pip install --quiet --upgrade pip || return 1
  "$dir/bin/python" -m pip install --quiet "$@"
}

write_env() {
  {
    printf 'RKERAS_BENCH_PY_TF=%s\n' "$1"
    printf 'RKERAS_BENCH_PY_JAX=%s\n' "$2"
  } > "$ENVFILE"
  cat "$ENVFILE"
  say "versions for tensorflow:"; versions "$1" >&2
  if [ "$1" != "$2" ]; then say "versions for jax:"; versions "$2" >&2; fi
}

FORCE=${RKERAS_BENCH_FORCE:-0}

# 1. Already set up?
if [ "$FORCE" != 1 ]; then
  if has "$VENV/bin/python" tensorflow keras jax; then
    write_env "$VENV/bin/python" "$VENV/bin/python"; exit 0
  fi
  if has "$VENV_TF/bin/python" tensorflow keras && has "$VENV_JAX/bin/python" jax keras; then
    write_env "$VENV_TF/bin/python" "$VENV_JAX/bin/python"; exit 0
  fi
fi

# 2. One shared venv.
if mkvenv "$VENV" "$TF_PKG" "$KERAS_PKG" "$JAX_PKG" && has "$VENV/bin/python" tensorflow keras jax; then
  write_env "$VENV/bin/python" "$VENV/bin/python"; exit 0
fi
say "tensorflow-cpu and jax[cpu] could not share $VENV; using two venvs"
rm -rf "$VENV"

# 3. Two venvs (pins dropped: each resolves on its own).
mkvenv "$VENV_TF" tensorflow-cpu keras
mkvenv "$VENV_JAX" "jax[cpu]" keras
has "$VENV_TF/bin/python" tensorflow keras || { say "tensorflow venv is broken"; exit 1; }
has "$VENV_JAX/bin/python" jax keras || { say "jax venv is broken"; exit 1; }
write_env "$VENV_TF/bin/python" "$VENV_JAX/bin/python"
