//! `--fit`, `--mean` and `--save-var`: Gaussian-process regression in the kriging tool.

use super::*;

/// The lines `--fit` prints, each with its value; `None` where the label is missing.
fn fitted(stdout: &str, label: &str) -> Option<Vec<f64>> {
    let line = stdout.lines().find(|l| l.starts_with(label))?;
    let values = line[label.len()..].split(" (").next().expect("a value");
    Some(
        values
            .split(", ")
            .map(|v| {
                v.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{v:?} in {line:?}"))
            })
            .collect(),
    )
}

/// `--fit` on the demo (both problems, a constant mean): the fitted hyperparameters, the log
/// marginal likelihood and the fitting time for each, and the three figures.
#[test]
fn fit_on_the_demo_prints_the_hyperparameters_and_draws_three_figures() {
    let dir = folder("fit_demo");
    let args = [
        "--fit", "--mean", "constant", "--n", "100", "--out", "figures",
    ];
    let (stdout, stderr) = succeeded(&dir, &args);
    assert!(stderr.is_empty(), "{stderr}");
    for (dim, kernel) in [(1, "gaussian"), (2, "laplacian")] {
        let header = format!(
            "Fitting a Gaussian process to 100 samples in {dim}D: {kernel} kernel, constant mean"
        );
        let at = stdout
            .find(&header)
            .unwrap_or_else(|| panic!("{header:?} in:\n{stdout}"));
        let part = &stdout[at..];
        for label in [
            "Fitted lengthscale: ",
            "Fitted signal variance: ",
            "Fitted noise variance: ",
            "Fitted mean: ",
        ] {
            let v = fitted(part, label).unwrap_or_else(|| panic!("{label:?} in:\n{part}"));
            assert_eq!(v.len(), 1, "{part}");
            assert!(v[0].is_finite(), "{part}");
            if label != "Fitted mean: " {
                assert!(v[0] > 0.0, "{part}");
            }
        }
        assert!(
            fitted(part, "Log marginal likelihood: ").is_some(),
            "{part}"
        );
        assert!(part.contains("Fitting time: "), "{part}");
        assert!(part.contains("Posterior variance at "), "{part}");
    }
    assert!(!stdout.contains("Conjugate gradient"), "{stdout}");
    for figure in ["kriging_1d.png", "kriging_2d.png", "kriging_2d_std.png"] {
        assert!(dir.join("figures").join(figure).is_file(), "{figure}");
    }
    // Without --fit, the demo draws no standard deviation.
    let plain = folder("fit_demo_plain");
    let (stdout, _) = succeeded(&plain, &["--n", "50", "--dim", "2", "--out", "figures"]);
    assert!(!stdout.contains("Fitted"));
    assert!(!plain.join("figures/kriging_2d_std.png").exists());
}

/// A small deterministic noise in [-1, 1].
fn jitter(i: usize) -> f64 {
    ((i as f64 * 12.9898).sin() * 43758.5453).fract()
}

/// `exp(-|x - y|^2 / (2 l^2))` for 1D points.
fn gaussian(x: f64, y: f64, l: f64) -> f64 {
    (-(x - y) * (x - y) / (2.0 * l * l)).exp()
}

/// `--fit --mean constant` on your data, two columns of values: the coefficients (n, k), the
/// posterior mean (m, k) and the variance (m,) are written in the data's precision, the mean is
/// the fitted constant plus the fitted kernel times the coefficients, and the variance lies
/// between 0 and the signal variance.
#[test]
fn fit_on_your_data_writes_coefficients_mean_and_variance() {
    let dir = folder("fit_data");
    let (n, m) = (200, 40);
    let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.618).fract()).collect();
    let b: Vec<f64> = x
        .iter()
        .enumerate()
        .flat_map(|(i, &x)| {
            [
                (6.0 * x).sin() + 0.1 * jitter(i),
                (6.0 * x).cos() + 3.0 + 0.1 * jitter(n + i),
            ]
        })
        .collect();
    let t: Vec<f64> = (0..m).map(|i| (i as f64 + 0.5) / m as f64).collect();
    npy::write(dir.join("X.npy"), &[n], &x).expect("X.npy");
    npy::write(dir.join("B.npy"), &[n, 2], &b).expect("B.npy");
    npy::write(dir.join("T.npy"), &[m], &t).expect("T.npy");
    let args = with(
        &SOLVE,
        &[
            "--t",
            "T.npy",
            "--fit",
            "--mean",
            "constant",
            "--save-pred",
            "P.npy",
            "--save-var",
            "V.npy",
        ],
    );
    let (stdout, _) = succeeded(&dir, &args);
    let l = fitted(&stdout, "Fitted lengthscale: ").expect("a lengthscale")[0];
    let v = fitted(&stdout, "Fitted signal variance: ").expect("a signal variance")[0];
    let noise = fitted(&stdout, "Fitted noise variance: ").expect("a noise variance")[0];
    let means = fitted(&stdout, "Fitted mean: ").expect("the means");
    assert_eq!(means.len(), 2, "{stdout}");
    assert!(l > 0.0 && v > 0.0 && noise > 0.0, "{stdout}");
    let (a, p, var) = ["A.npy", "P.npy", "V.npy"]
        .map(|f| npy::read(dir.join(f)).expect(f))
        .into();
    assert_eq!(
        (a.shape.clone(), p.shape.clone(), var.shape.clone()),
        (vec![n, 2], vec![m, 2], vec![m])
    );
    for array in [&a, &p, &var] {
        assert_eq!(array.data.dtype(), "float64");
    }
    let (a, p, var) = (a.data.to_f64(), p.data.to_f64(), var.data.to_f64());
    // P = mean + v K_tx A, up to the printed hyperparameters' 6 digits.
    let expected: Vec<f64> = (0..m)
        .flat_map(|i| (0..2).map(move |c| (i, c)))
        .map(|(i, c)| {
            means[c]
                + v * (0..n)
                    .map(|j| gaussian(t[i], x[j], l) * a[j * 2 + c])
                    .sum::<f64>()
        })
        .collect();
    let err = relative(&p, &expected, &expected);
    assert!(err < 1e-3, "P against mean + K A: {err:.2e}\n{stdout}");
    let truth: Vec<f64> = t
        .iter()
        .flat_map(|&t| [(6.0 * t).sin(), (6.0 * t).cos() + 3.0])
        .collect();
    let err = relative(&p, &truth, &truth);
    assert!(
        err < 0.05,
        "P against the noiseless function: {err:.2e}\n{stdout}"
    );
    for s in &var {
        assert!(
            *s >= 0.0 && *s <= v * (1.0 + 1e-5),
            "variance {s} outside [0, {v}]\n{stdout}"
        );
    }
}

/// `--save-var` without `--fit`: the tool's own solve is the posterior mean of the Gaussian
/// process with the kernel at width sigma, signal variance 1 and noise variance alpha; its
/// prediction (P.npy, unchanged) and the variance (V.npy) agree with that process computed
/// densely here, in the data's precision (f32).
#[test]
fn save_var_without_fit_is_the_tool_s_own_process() {
    let dir = folder("save_var");
    let (n, m, sigma, alpha) = (100, 30, 0.1, 0.5);
    let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.618).fract()).collect();
    let b: Vec<f32> = x.iter().map(|x| (6.0 * x).sin()).collect();
    let t: Vec<f32> = (0..m).map(|i| i as f32 / (m - 1) as f32).collect();
    save(&dir, "X.npy", &[n], &x);
    save(&dir, "B.npy", &[n], &b);
    save(&dir, "T.npy", &[m], &t);
    let args = with(
        &SOLVE,
        &[
            "--t",
            "T.npy",
            "--sigma",
            "0.1",
            "--alpha",
            "0.5",
            "--save-pred",
            "P.npy",
            "--save-var",
            "V.npy",
        ],
    );
    let (stdout, _) = succeeded(&dir, &args);
    assert!(stdout.contains("Conjugate gradient"), "{stdout}");
    assert!(!stdout.contains("Fitted"), "{stdout}");
    let var = npy::read(dir.join("V.npy")).expect("V.npy");
    assert_eq!((var.shape.clone(), var.data.dtype()), (vec![m], "float32"));
    // The process densely: (K + alpha I)^-1 by Cholesky.
    let (x, b, t): (Vec<f64>, Vec<f64>, Vec<f64>) = (
        x.iter().map(|&v| v as f64).collect(),
        b.iter().map(|&v| v as f64).collect(),
        t.iter().map(|&v| v as f64).collect(),
    );
    let k = nalgebra::DMatrix::from_fn(n, n, |i, j| {
        gaussian(x[i], x[j], sigma) + if i == j { alpha } else { 0.0 }
    });
    let chol = k.cholesky().expect("positive definite");
    let kxt = nalgebra::DMatrix::from_fn(n, m, |i, j| gaussian(x[i], t[j], sigma));
    let a = chol.solve(&nalgebra::DVector::from_column_slice(&b));
    let mean: Vec<f64> = (0..m).map(|j| kxt.column(j).dot(&a)).collect();
    let solved = chol.solve(&kxt);
    let expected: Vec<f64> = (0..m)
        .map(|j| 1.0 - kxt.column(j).dot(&solved.column(j)))
        .collect();
    let p = values(&dir, "P.npy");
    let err = relative(&p, &mean, &mean);
    assert!(err < 1e-4, "P against the posterior mean: {err:.2e}");
    let var = var.data.to_f64();
    let err = relative(&var, &expected, &expected);
    assert!(
        err < 1e-4,
        "V against the posterior variance: {err:.2e}\n{var:?}\n{expected:?}"
    );
    assert!(var.iter().all(|v| *v >= 0.0));
}

#[test]
fn invalid_gaussian_process_flags_are_refused() {
    let dir = folder("gp_flags");
    data(&dir, 20);
    save(&dir, "T.npy", &[3], &[0.1, 0.5, 0.9]);
    let demo = ["--n", "10", "--out", "."];
    refused_all(
        &dir,
        &demo,
        &[
            (&["--save-var", "V.npy"], "--save-var needs --x X.npy"),
            (&["--mean", "constant"], "--mean constant needs --fit"),
            (&["--mean", "linear"], "invalid value 'linear'"),
            (&["--fit", "--sigma", "0.2"], "drop --sigma"),
            (&["--fit", "--alpha", "1"], "drop --alpha"),
            (
                &["--fit", "--precond", "jacobi"],
                "which --fit does not use",
            ),
            (&["--fit", "--tol", "1e-3"], "which --fit does not use"),
            (&["--fit", "--product", "exact"], "which --fit does not use"),
        ],
    );
    // Too few points for the hyperparameters: 3 points for 3 of them.
    let few = ["--fit", "--n", "3", "--dim", "1", "--out", "."];
    refused(&dir, &few, 2, "cannot determine");
    refused(
        &dir,
        &with(&SOLVE, &["--save-var", "V.npy"]),
        2,
        "--save-var needs --t T.npy",
    );
    refused_all(
        &dir,
        &with(&SOLVE, &["--t", "T.npy"]),
        &[
            (&["--save-var", "A.npy"], "is the same file as"),
            (&["--save-var", "T.npy"], "is the same file as"),
            (
                &["--save-var", "V.npy", "--alpha", "0"],
                "--save-var without --fit needs --alpha > 0",
            ),
        ],
    );
}
