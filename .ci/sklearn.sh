#!/usr/bin/env bash
# scikit-learn and numpy from PyPI in a virtual environment, for the comparison of keops::gp with
# scikit-learn's GaussianProcessRegressor (`cargo run --release --example gp -- --only sklearn`,
# which runs benches/gp_sklearn.py with that environment's python). Not part of CI (.ci/run).
#
#   bash .ci/sklearn.sh     # installs if needed, then prints the venv's python path on stdout
#
# Idempotent: once the packages import, a second run only checks that they still do. The venv is
# target/sklearn-venv (ignored by git; override with KEOPS_SKLEARN_VENV). Progress goes to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
venv="${KEOPS_SKLEARN_VENV:-$root/target/sklearn-venv}"
python="$venv/bin/python"

if ! "$python" -c "import sklearn, numpy" >/dev/null 2>&1; then
    echo "== installing scikit-learn and numpy into $venv" >&2
    py="$(command -v python3 || command -v python)" || {
        echo "sklearn.sh: python3 is needed" >&2
        exit 1
    }
    [[ -x "$venv/bin/pip" ]] || "$py" -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check scikit-learn numpy >&2
    "$python" -c "import sklearn, numpy" >&2
fi
echo "$python"
