#!/usr/bin/env bash
# Set up everything the test suite needs, then run it:
#   .venv/                     tfgpu itself, editable, with the test extras
#   .venvs/tf-2.21.0/          a target env with the real tensorflow==2.21.0 wheel (no CUDA wheels)
#   .venvs/tf-2.21.0-and-cuda/ a target env with tensorflow[and-cuda]==2.21.0 (real pip CUDA/cuDNN)
# The target envs are reused when already complete. TFGPU_SKIP_TF_VENVS=1 skips them (the tests
# that need them then skip, except under CI=true, where they must run).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

make_target() {  # name, requirement
  local dir=".venvs/$1"
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    "$PY" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$2"
    touch "$dir/.complete"
  fi
}

if [ "${TFGPU_SKIP_TF_VENVS:-0}" != "1" ]; then
  mkdir -p .venvs
  make_target tf-2.21.0 "tensorflow==2.21.0"
  make_target tf-2.21.0-and-cuda "tensorflow[and-cuda]==2.21.0"
  export TFGPU_TEST_TF_PYTHON="$PWD/.venvs/tf-2.21.0/bin/python"
  export TFGPU_TEST_TF_CUDA_PYTHON="$PWD/.venvs/tf-2.21.0-and-cuda/bin/python"
fi

exec .venv/bin/python -m pytest "$@"
