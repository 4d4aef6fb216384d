//! K nearest neighbours with `argkmin_j` (and their distances with `kmin_argkmin_j`): for 10,000
//! random 3D query points, the K = 10 nearest among 100,000 random 3D points, without ever storing
//! the 10^9 distances. A few rows are checked against a brute-force search in f64.
//!
//! ```text
//! cargo run --release --example knn [-- --n 10000 --m 100000]
//! cargo run --release --features cuda --example knn     # also on GPU 0, when there is one
//! ```

mod common;

use common::{best_of, Rng};
use keops::prelude::*;

const K: usize = 10;

/// The K nearest of `y` to `q` by brute force in f64, as (squared distance, index), ascending.
fn brute_force(q: [f32; 3], y: &[[f32; 3]]) -> Vec<(f64, usize)> {
    let mut d: Vec<(f64, usize)> = y
        .iter()
        .enumerate()
        .map(|(j, p)| {
            let s: f64 = (0..3).map(|k| (q[k] as f64 - p[k] as f64).powi(2)).sum();
            (s, j)
        })
        .collect();
    d.sort_by(|a, b| a.partial_cmp(b).unwrap());
    d.truncate(K);
    d
}

/// Whether `got` (K indices, ascending distances) is a K-nearest set of `q`: the same set as the
/// brute force up to ties within `eps` of the K-th distance.
fn matches(q: [f32; 3], y: &[[f32; 3]], got: &[usize], eps: f64) -> bool {
    let want = brute_force(q, y);
    let kth = want[K - 1].0;
    let dist = |j: usize| {
        (0..3)
            .map(|k| (q[k] as f64 - y[j][k] as f64).powi(2))
            .sum::<f64>()
    };
    let mut distinct = got.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    distinct.len() == K
        && got.iter().all(|&j| dist(j) <= kth + eps)
        && want
            .iter()
            .all(|&(d, j)| d >= kth - eps || got.contains(&j))
        && got.windows(2).all(|w| dist(w[0]) <= dist(w[1]) + eps)
}

fn main() -> Result<(), KeopsError> {
    let (mut n, mut m) = (10_000usize, 100_000usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().and_then(|v| v.replace('_', "").parse().ok());
        match (a.as_str(), v) {
            ("--n", Some(v)) => n = v,
            ("--m", Some(v)) => m = v,
            _ => {
                eprintln!("usage: knn [--n QUERIES] [--m POINTS]");
                std::process::exit(2);
            }
        }
    }
    let mut rng = Rng(0x5eed);
    let mut point = || {
        [
            rng.uniform() as f32,
            rng.uniform() as f32,
            rng.uniform() as f32,
        ]
    };
    let x: Vec<[f32; 3]> = (0..n).map(|_| point()).collect();
    let y: Vec<[f32; 3]> = (0..m).map(|_| point()).collect();

    // The K nearest: one row of K indices per query, nearest first.
    let knn = kernel!(argkmin_j(sqdist(x_i, y_j), 10));
    let bound = knn.x_i(&x).y_j(&y).bind()?;
    let mut idx = bound.eval();
    let secs = best_of(3, || idx = bound.eval());
    println!(
        "{n} queries, {m} points, K = {K}, f32, {} threads: argkmin_j in {secs:.3} s ({:.3e} pairs/s)",
        rayon::current_num_threads(),
        (n * m) as f64 / secs
    );
    // Their squared distances too, in one pass.
    let (d2, idx2) = kernel!(kmin_argkmin_j(sqdist(x_i, y_j), 10))
        .x_i(&x)
        .y_j(&y)
        .eval()?;
    assert_eq!(
        idx2.as_slice(),
        idx.as_slice(),
        "argkmin_j and kmin_argkmin_j agree"
    );

    // Brute force on a few rows (f32 distances are within ~1e-7 of the f64 ones here).
    let rows = [0, 1, n / 3, n / 2, n - 1];
    let mut ok = true;
    for &o in &rows {
        let good = matches(x[o], &y, idx.row(o), 1e-6);
        ok &= good;
        println!(
            "row {o:>5}: nearest {:?} at squared distance {:.3e} .. {:.3e}: {}",
            &idx.row(o)[..3],
            d2.row(o)[0],
            d2.row(o)[K - 1],
            if good {
                "matches brute force"
            } else {
                "MISMATCH"
            }
        );
    }

    #[cfg(feature = "cuda")]
    match keops::Gpu::new(0) {
        Ok(gpu) => {
            let mut g = bound.eval_on(keops::Backend::Cuda(0))?;
            let gsecs = best_of(3, || {
                g = bound.eval_on(keops::Backend::Cuda(0)).expect("GPU run");
            });
            let good = rows.iter().all(|&o| matches(x[o], &y, g.row(o), 1e-6));
            let same = (0..n).filter(|&o| g.row(o) == idx.row(o)).count();
            println!(
                "GPU {}: argkmin_j in {gsecs:.3} s (upload and download included), {same} of {n} rows equal to the CPU's, checked rows {}",
                gpu.name(),
                if good { "match brute force" } else { "MISMATCH" }
            );
            ok &= good;
        }
        Err(e) => println!("no GPU: {e}"),
    }
    if !ok {
        eprintln!("some rows differ from the brute force");
        std::process::exit(1);
    }
    Ok(())
}
