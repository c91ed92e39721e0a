#!/usr/bin/env bash
# Create (or complete) the project's virtual environment.
#
#   VENV             where the environment lives                    (default .venv)
#   PYTHON           interpreter used to create it                  (default python3.11, else python3)
#   MMCV             lite: mmcv 2.1.0 without compiled ops, nothing to compile (default);
#                    compiled: mmcv 2.1.0 with mmcv's compiled ops (its own RoIAlign and NMS kernels)
#   MMCV_WHEEL_DIR   folder searched for a prebuilt mmcv 2.1.0 wheel (MMCV=compiled; default ../shared/wheels,
#                    where the development machines keep one)
#   MMCV_WHEEL_CACHE where a wheel built from source is kept        (default ~/.cache/mambavision-mm/wheels)
#
# torch 2.13.0 is installed only when the environment has no torch yet, so a CUDA build that a
# user installed first is kept. By default mmcv is mmcv-lite, the same Python package without the
# compiled extension: the compiled functions the shipped models call (RoIAlign, NMS) run in PyTorch
# (mambavision_mm/ops), so no compiler or nvcc is needed. With MMCV=compiled, mmcv is taken from a
# wheel when one fits, otherwise built from source once (about 36 minutes on 2 cores; on CUDA machines
# it needs nvcc) and the wheel cached for the next environment.
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
MMCV=${MMCV:-lite}
MMCV_WHEEL_DIR=${MMCV_WHEEL_DIR:-../shared/wheels}
MMCV_WHEEL_CACHE=${MMCV_WHEEL_CACHE:-$HOME/.cache/mambavision-mm/wheels}
TORCH_VERSION=2.13.0
MMCV_VERSION=2.1.0
SETUPTOOLS='setuptools>=77,<81'

say() { printf '[install] %s\n' "$*"; }

case "$MMCV" in
    lite|compiled) ;;
    *) say "ERROR: MMCV=$MMCV; use MMCV=lite (default, nothing to compile) or MMCV=compiled"; exit 2 ;;
esac

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $PYTHON ($("$PYTHON" --version 2>&1))"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --quiet --disable-pip-version-check)

"${PIP[@]}" --upgrade pip "$SETUPTOOLS" wheel

if "$PY" -c 'import torch' 2>/dev/null; then
    say "keeping the installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
    say "installing torch==$TORCH_VERSION"
    "${PIP[@]}" "torch==$TORCH_VERSION"
fi

say "installing pinned dependencies (requirements/runtime.txt, requirements/tests.txt)"
"${PIP[@]}" -r requirements/runtime.txt -r requirements/tests.txt
say "installing OpenMMLab packages without their opencv-python pin (requirements/openmmlab.txt)"
"${PIP[@]}" --no-deps -r requirements/openmmlab.txt

# mmcv $MMCV_VERSION is installed, with (compiled) or without (lite) its compiled extension.
mmcv_is() {
    "$PY" - "$1" <<EOF 2>/dev/null
import importlib.machinery, sys
import mmcv
compiled = importlib.machinery.PathFinder.find_spec('mmcv._ext', mmcv.__path__) is not None
assert mmcv.__version__ == '$MMCV_VERSION' and compiled == (sys.argv[1] == 'compiled')
if compiled:
    import mmcv.ops  # the extension loads with this torch
EOF
}

# mmcv and mmcv-lite install the same package folder: remove whichever is there before the other goes in.
remove_mmcv() {
    "$PY" -m pip uninstall --quiet --yes mmcv mmcv-lite >/dev/null 2>&1 || true
}

# A wheel matching this interpreter, from the shared folder first, then from our own cache.
find_mmcv_wheel() {
    local tag dir
    tag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    for dir in "$MMCV_WHEEL_DIR" "$MMCV_WHEEL_CACHE/torch-$TORCH_TAG"; do
        ls "$dir"/mmcv-"$MMCV_VERSION"-"$tag"-*.whl 2>/dev/null || true
    done | head -n 1
}

build_mmcv_wheel() {
    local cuda
    cuda=$("$PY" -c 'import torch; print(int(torch.version.cuda is not None))')
    say "building mmcv $MMCV_VERSION with compiled ops from source: no prebuilt wheel for this Python"
    say "and torch $TORCH_TAG in $MMCV_WHEEL_DIR or $MMCV_WHEEL_CACHE. This takes about 36 minutes on 2 cores;"
    say "the wheel is cached in $MMCV_WHEEL_CACHE/torch-$TORCH_TAG so the next environment reuses it."
    # mmcv's setup.py imports pkg_resources, which setuptools >= 70 no longer ships.
    "${PIP[@]}" 'setuptools<70' ninja
    local out="$MMCV_WHEEL_CACHE/torch-$TORCH_TAG" log status
    mkdir -p "$out"
    log="$out/build.log"
    set +e
    MMCV_WITH_OPS=1 FORCE_CUDA=$cuda MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "$PY" -m pip wheel --no-build-isolation --no-deps --verbose "mmcv==$MMCV_VERSION" -w "$out" 2>&1 \
        | tee "$log" | awk '/^\[[0-9]+\/[0-9]+\]/ { print "[install] mmcv build step " $1; fflush() }'
    status=${PIPESTATUS[0]}
    set -e
    "${PIP[@]}" "$SETUPTOOLS"
    if [ "$status" -ne 0 ]; then
        tail -n 30 "$log"
        say "ERROR: building mmcv failed (full log: $log). A C++ compiler (gcc/g++) and the Python headers"
        say "are needed; on a CUDA machine also nvcc matching torch.version.cuda."
        exit 1
    fi
}

if mmcv_is "$MMCV"; then
    say "mmcv $MMCV_VERSION ($MMCV) already installed"
elif [ "$MMCV" = lite ]; then
    say "installing mmcv-lite $MMCV_VERSION: no compiled ops, nothing to compile (MMCV=compiled for mmcv's kernels)"
    remove_mmcv
    "${PIP[@]}" --no-deps "mmcv-lite==$MMCV_VERSION"
else
    remove_mmcv
    TORCH_TAG=$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')
    wheel=$(find_mmcv_wheel)
    if [ -n "$wheel" ]; then
        say "installing mmcv from $wheel"
        "${PIP[@]}" --no-deps --force-reinstall "$wheel"
    fi
    if ! mmcv_is compiled; then
        [ -n "$wheel" ] && say "that wheel does not work with torch $TORCH_TAG"
        build_mmcv_wheel
        wheel=$(ls "$MMCV_WHEEL_CACHE/torch-$TORCH_TAG"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)
        "${PIP[@]}" --no-deps --force-reinstall "$wheel"
    fi
fi

if "$PY" -c 'import triton' 2>/dev/null; then
    say "keeping the installed triton $("$PY" -c 'import triton; print(triton.__version__)')"
else
    say "installing triton without dependencies (requirements/triton.txt)"
    "${PIP[@]}" --no-deps -r requirements/triton.txt
fi

say "installing the ONNX export extras (requirements/deploy.txt)"
"${PIP[@]}" -r requirements/deploy.txt

say "installing this project (editable; with it the start-up file that serves mmcv._ext where mmcv-lite has none)"
"${PIP[@]}" --no-deps --no-build-isolation -e .

"$PY" tools/misc/check_env.py
