#!/bin/sh
# Create (once) a Python venv with TensorBoard and Keras 3 (jax backend), the tests' oracles
# (TensorFlow's CPU build too: Keras's lookup and hashing layers compute with it):
# tests/testthat/oracle/read_tfevents.py and tests/testthat/oracle/keras_models.py.
#   venv:   ${RKERAS_VENV:-$HOME/.cache/rkeras/venv-tb}
#   python: ${PYTHON:-python3} (3.9 or newer) creates it
# Idempotent: does nothing if the venv already imports tensorboard, keras and jax. Progress goes to stderr;
# stdout is only the venv's python path, so:  PY=$(tools/setup-python.sh) && "$PY" ...
set -eu

venv="${RKERAS_VENV:-${HOME}/.cache/rkeras/venv-tb}"
py="$venv/bin/python"
base="${PYTHON:-python3}"

if [ -x "$py" ] && KERAS_BACKEND=jax "$py" -c 'import tensorboard, keras, jax, PIL, scipy, pandas, tensorflow' >/dev/null 2>&1; then
    printf '%s\n' "$py"
    exit 0
fi

if ! command -v "$base" >/dev/null 2>&1; then
    echo "setup-python.sh: '$base' not found; set PYTHON to a python3 interpreter" >&2
    exit 1
fi

if [ ! -x "$py" ]; then
    echo "setup-python.sh: creating venv at $venv" >&2
    mkdir -p "$(dirname "$venv")"
    if ! "$base" -m venv "$venv" >&2; then
        echo "setup-python.sh: '$base -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
        exit 1
    fi
fi

echo "setup-python.sh: installing tensorboard, keras, jax, pillow, scipy, pandas and tensorflow-cpu into $venv" >&2
"$py" -m pip install --quiet --disable-pip-version-check tensorboard keras jax pillow scipy pandas tensorflow-cpu >&2
KERAS_BACKEND=jax "$py" -c 'import tensorboard, keras, jax, PIL, scipy, pandas, tensorflow' >&2
printf '%s\n' "$py"
