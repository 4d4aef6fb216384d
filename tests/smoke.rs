use keops::prelude::*;

#[test]
fn gaussian_matvec_matches_dense() {
    let x: Vec<f64> = (0..37).map(|i| (i as f64 * 0.37).sin()).collect();
    let y: Vec<f64> = (0..23).map(|i| (i as f64 * 0.11).cos()).collect();
    let v: Vec<f64> = (0..23).map(|i| i as f64 - 3.0).collect();
    let s = 0.5;
    let g = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)));
    let k = g.x_i(&x).y_j(&y).matrix().unwrap();
    let out = k.matvec(&v).unwrap();
    for i in 0..37 {
        let want: f64 = (0..23)
            .map(|j| (-(x[i] - y[j]).powi(2) / (2.0 * s * s)).exp() * v[j])
            .sum();
        assert!((out[i] - want).abs() < 1e-12, "{i}: {} vs {want}", out[i]);
    }
}
