#!/usr/bin/env bash
# The pinned CUDA compiler (nvcc, cicc, ptxas and the headers nvcc needs for `-ptx`) from PyPI's
# NVIDIA wheels, in a virtual environment: no system CUDA, no driver, no GPU needed.
#
#   source .ci/cuda-toolchain.sh       # installs if needed, then exports PATH and NVCC
#   eval "$(bash .ci/cuda-toolchain.sh)"   # the same from another shell: prints the export lines
#
# Idempotent: a stamp in the venv records the pinned versions, so a second run only checks that
# nvcc answers (well under a second). The venv is target/cuda-venv (ignored by git; override with
# KEOPS_CUDA_VENV). The wheels' nvcc.profile already points nvcc at cicc (nvvm/bin), libdevice and
# the include/ folder that holds cuda_runtime.h and the crt headers, so PATH is all it needs.

keops_cuda_toolchain() {
    local root venv stamp bin py
    local pins="nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85"
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
    venv="${KEOPS_CUDA_VENV:-$root/target/cuda-venv}"
    stamp="$venv/keops-cuda-pins.txt"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$pins" ]]; then
        echo "== installing the CUDA toolchain into $venv ($pins)" >&2
        py="$(command -v python3 || command -v python)" || {
            echo "cuda-toolchain: python3 is needed" >&2
            return 1
        }
        rm -f "$stamp"
        [[ -x "$venv/bin/pip" ]] || "$py" -m venv "$venv" >&2 || return 1
        # shellcheck disable=SC2086 # the pins are words
        "$venv/bin/pip" install --quiet --disable-pip-version-check $pins >&2 || return 1
        echo "$pins" >"$stamp"
    fi
    # The real directory (not a symlink): nvcc finds nvcc.profile, and through it cicc, ptxas and
    # the headers, relative to where it really lives.
    bin="$(cd "$venv"/lib/python3*/site-packages/nvidia/cu13/bin 2>/dev/null && pwd -P)" || {
        echo "cuda-toolchain: no nvidia/cu13/bin in $venv (remove $venv and rerun)" >&2
        return 1
    }
    "$bin/nvcc" --version >/dev/null || {
        echo "cuda-toolchain: $bin/nvcc does not run" >&2
        return 1
    }
    KEOPS_CUDA_BIN="$bin"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: export into the caller's shell.
    if keops_cuda_toolchain; then
        case ":$PATH:" in
        *":$KEOPS_CUDA_BIN:"*) ;;
        *) export PATH="$KEOPS_CUDA_BIN:$PATH" ;;
        esac
        export NVCC="$KEOPS_CUDA_BIN/nvcc"
        echo "== CUDA toolchain: nvcc $("$NVCC" --version | grep -o "V[0-9.]*" | tail -1) in $KEOPS_CUDA_BIN" >&2
    else
        return 1
    fi
else
    set -euo pipefail
    keops_cuda_toolchain
    printf 'export PATH=%q:"$PATH"\n' "$KEOPS_CUDA_BIN"
    printf 'export NVCC=%q\n' "$KEOPS_CUDA_BIN/nvcc"
fi
