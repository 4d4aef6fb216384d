#!/usr/bin/env python3
"""scikit-learn's GaussianProcessRegressor on the data of two .npy files: the reference that
keops::gp's hyperparameter fit is compared with (`cargo run --release --example gp -- --only
sklearn`, which installs scikit-learn with .ci/sklearn.sh and runs this script).

    python benches/gp_sklearn.py X.npy Y.npy [--kernel gaussian|matern52]

X: (n,) or (n, d) points, Y: (n,) values. The kernel is

    ConstantKernel(1.0, (1e-3, 1e3)) * RBF(median distance, (1e-3, 1e3) x median distance)
        + WhiteKernel(0.01 var(y), (1e-6, 10) x var(y))

(Matern(nu=2.5) instead of RBF with --kernel matern52): the lengthscale and noise start and
bounds of keops::gp's `Tuning::default()` (median distance over at most 1,000 points, variance of
the targets about their mean). normalize_y=False and a zero prior mean, n_restarts_optimizer=0
(one L-BFGS-B run from that start). Prints one line of JSON: the fitted lengthscale, signal
variance and noise variance, log_marginal_likelihood_value_, the fit's wall time in seconds, the
evaluations of the likelihood and its gradient, and whether L-BFGS-B reported convergence.
"""

import argparse
import json
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel


def median_distance(x):
    """The median distance between points, over every ceil(n / 1000)-th point, zero distances
    left out: the start of keops::gp's lengthscale (src/gp/tune.rs, median_distances)."""
    step = max(-(-len(x) // 1000), 1)
    rows = x[::step]
    diff = rows[:, None, :] - rows[None, :, :]
    r = np.sqrt((diff**2).sum(-1))[np.triu_indices(len(rows), k=1)]
    r = np.sort(r[r > 0])
    return float(r[len(r) // 2]) if len(r) else 1.0


class CountingRegressor(GaussianProcessRegressor):
    """GaussianProcessRegressor, its default optimizer untouched, counting the evaluations of
    the likelihood and its gradient that the optimizer asks for."""

    evaluations = 0

    def log_marginal_likelihood(self, theta=None, eval_gradient=False, clone_kernel=True):
        if eval_gradient:
            self.evaluations += 1
        return super().log_marginal_likelihood(theta, eval_gradient, clone_kernel)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("x", help="points, .npy of shape (n,) or (n, d)")
    parser.add_argument("y", help="values, .npy of shape (n,)")
    parser.add_argument("--kernel", choices=["gaussian", "matern52"], default="gaussian")
    args = parser.parse_args()

    x = np.load(args.x).astype(np.float64)
    x = x.reshape(len(x), -1)
    y = np.load(args.y).astype(np.float64).reshape(-1)
    if len(y) != len(x):
        parser.error(f"{len(x)} points but {len(y)} values")

    median = median_distance(x)
    var = float(y.var()) if y.var() > 0 else 1.0
    bounds = {
        "lengthscale": (1e-3 * median, 1e3 * median),
        "signal_variance": (1e-3, 1e3),
        "noise": (1e-6 * var, 10.0 * var),
    }
    if args.kernel == "gaussian":
        shape = RBF(length_scale=median, length_scale_bounds=bounds["lengthscale"])
    else:
        shape = Matern(length_scale=median, length_scale_bounds=bounds["lengthscale"], nu=2.5)
    kernel = ConstantKernel(1.0, bounds["signal_variance"]) * shape + WhiteKernel(
        noise_level=0.01 * var, noise_level_bounds=bounds["noise"]
    )
    gpr = CountingRegressor(
        kernel=kernel, normalize_y=False, n_restarts_optimizer=0, random_state=0
    )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        gpr.fit(x, y)
        seconds = time.perf_counter() - start
    notes = [str(w.message).split("\n")[0] for w in caught]

    fitted = gpr.kernel_
    print(
        json.dumps(
            {
                "kernel": args.kernel,
                "n": len(x),
                "lengthscale": float(fitted.k1.k2.length_scale),
                "signal_variance": float(fitted.k1.k1.constant_value),
                "noise": float(fitted.k2.noise_level),
                "log_marginal_likelihood": float(gpr.log_marginal_likelihood_value_),
                "seconds": seconds,
                "evaluations": gpr.evaluations,
                "start": {"lengthscale": median, "signal_variance": 1.0, "noise": 0.01 * var},
                "bounds": bounds,
                "converged": not any(
                    issubclass(w.category, ConvergenceWarning) for w in caught
                ),
                "warnings": notes,
                "sklearn": __import__("sklearn").__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
