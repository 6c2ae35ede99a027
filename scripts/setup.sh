#!/usr/bin/env bash
# Set up maskpose from nothing: a virtual environment in .venv with torch and the project.
#   TORCH_SPEC   which torch to install first (default: torch==2.13.0, a CPU build).
#                GPU users: TORCH_SPEC="torch==2.5.1" PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cu124
#   PYTHON       interpreter to create the venv with (default: python3.11, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, so the project's "torch>=2.2" is already satisfied and no CUDA build is pulled.
.venv/bin/python -m pip install --quiet "$TORCH_SPEC"
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "maskpose installed in $(pwd)/.venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
