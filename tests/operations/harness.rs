//! The comparisons can fail: wrong implementations of a case are rejected at every size.

use super::*;

#[test]
fn harness_rejects_wrong_results() {
    fn gauss<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3 => sum_j(exp(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .bind()
            .map(eval)
            .unwrap()
    }
    // Swapped sign inside the formula.
    fn swapped<T: Real>(d: &Inputs<T>) -> Rows<T> {
        kernel!(x_i: 3 => sum_j(exp(y_j - x_i) * b_j))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .eval()
            .unwrap()
    }
    // A dropped term: the last point of y_j (a reduction loop one short).
    fn dropped<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let (dy, db) = (d.s.dy, d.s.db);
        let m = d.m - 1;
        let y = View::new(&d.y[..m * dy], dy).unwrap();
        let b = View::new(&d.b[..m * db], db).unwrap();
        kernel!(x_i: 3 => sum_j(exp(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(y)
            .b_j(b)
            .eval()
            .unwrap()
    }
    // Terms shifted by one: y_j paired with b_{j+1}.
    fn shifted<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let (dy, db) = (d.s.dy, d.s.db);
        let m = d.m - 1;
        let y = View::new(&d.y[..m * dy], dy).unwrap();
        let b = View::new(&d.b[db..], db).unwrap();
        kernel!(x_i: 3 => sum_j(exp(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(y)
            .b_j(b)
            .eval()
            .unwrap()
    }
    // Right on the CPU engine, a dropped term in the CUDA kernel: the host emulation's comparison
    // fails on its own.
    fn gpu_dropped<T: Real>(d: &Inputs<T>) -> Rows<T> {
        let (dy, db) = (d.s.dy, d.s.db);
        let m = d.m - 1;
        let y = View::new(&d.y[..m * dy], dy).unwrap();
        let b = View::new(&d.b[..m * db], db).unwrap();
        let short = kernel!(x_i: 3 => sum_j(exp(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(y)
            .b_j(b)
            .bind()
            .unwrap();
        gpu_host::record_reduction(&short.gpu_task());
        kernel!(x_i: 3 => sum_j(exp(x_i - y_j) * b_j))
            .x_i(d.x())
            .y_j(d.y())
            .b_j(d.b())
            .eval()
            .unwrap()
    }
    let term = |a: &Args, o: &mut [f64]| {
        for k in 0..a.x.len() {
            o[k] = (a.x[k] - a.y[k]).exp() * a.b[k];
        }
    };
    // Positive b: no cancellation, so relative errors are what the tolerance sees.
    let mut spec = Spec::new(3, 3).b(3);
    spec.b = (0.5, 1.0);
    for &size in &[(7, 13), (1000, 1037)] {
        try_case::<f32>("wrong", spec, size, Red::J, 3, gauss::<f32>, &term).unwrap();
        try_case::<f64>("wrong", spec, size, Red::J, 3, gauss::<f64>, &term).unwrap();
        for (what, r32, r64) in [
            (
                "swapped",
                swapped::<f32> as fn(&Inputs<f32>) -> Rows<f32>,
                swapped::<f64> as fn(&Inputs<f64>) -> Rows<f64>,
            ),
            ("dropped", dropped::<f32>, dropped::<f64>),
            ("shifted", shifted::<f32>, shifted::<f64>),
        ] {
            let e32 = try_case::<f32>("wrong", spec, size, Red::J, 3, r32, &term);
            let e64 = try_case::<f64>("wrong", spec, size, Red::J, 3, r64, &term);
            assert!(e32.is_err(), "{what} at {size:?} passed in f32");
            assert!(e64.is_err(), "{what} at {size:?} passed in f64");
        }
        if gpu_host::available() {
            for e in [
                try_case::<f32>("wrong", spec, size, Red::J, 3, gpu_dropped::<f32>, &term),
                try_case::<f64>("wrong", spec, size, Red::J, 3, gpu_dropped::<f64>, &term),
            ] {
                let e = e.expect_err("a dropped term in the CUDA kernel passed");
                assert!(e.contains("host-emulated CUDA kernel"), "{e}");
            }
        }
    }
}
