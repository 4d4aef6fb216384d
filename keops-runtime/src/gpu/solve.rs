//! The conjugate gradient on the device ([`GpuKernelMatrix::solve`]): the solver's iteration
//! ([`conjugate_gradient`], shared with the host) over vectors that stay in device memory (f64),
//! combined by the prelude's `keops_cg_*` kernels. An iteration reads back two sums of at most a
//! few hundred block partial sums.

use std::time::{Duration, Instant};

use cudarc::driver::{CudaFunction, CudaSlice, LaunchConfig, PushKernelArg};
use keops_abi::gpu::{prelude as prelude_kernels, CG_THREADS};

use super::device::{cuda_err, guarded, launch_err};
use super::launch::as_bytes;
use super::matrix::GpuKernelMatrix;
use crate::solve::{
    col_dot, column_scale, conjugate_gradient, CgOutcome, CgStart, CgVectors, Conditioning,
};
use crate::{
    ConjugateGradient, IntoView, KeopsError, Real, Rows, Solution, SolveError, Termination,
};

/// The prelude's vector kernels for the device conjugate gradient (prelude.cuh, `keops_cg_*`).
struct CgKernels {
    round: CudaFunction,
    curv: CudaFunction,
    resid: CudaFunction,
    step: CudaFunction,
    direction: CudaFunction,
}

/// Device buffers of one column's solve: f64 vectors, `T` operands of the products, partial sums.
struct CgBuffers {
    b: CudaSlice<u8>,
    x: CudaSlice<u8>,
    x_best: CudaSlice<u8>,
    r: CudaSlice<u8>,
    p: CudaSlice<u8>,
    ap: CudaSlice<u8>,
    t_in: CudaSlice<u8>,
    t_out: CudaSlice<u8>,
    partial: CudaSlice<u8>,
}

impl<T: Real> GpuKernelMatrix<T> {
    /// Solves `(alpha I + K) a = b` by conjugate gradient on the device, with the semantics of
    /// [`ConjugateGradient`] (relative tolerance per column, iteration cap, f64 vectors and inner
    /// products, true residual with restarts, typed breakdown and non-convergence): the same
    /// iteration as on the host. The vectors never leave the device: an iteration reads back two
    /// sums of at most a few hundred block partial sums. Columns of `b` are solved one after
    /// another. Not preconditioned (the CPU solver's Nyström preconditioner is not ported yet):
    /// `cg`'s [`Preconditioning`](crate::Preconditioning) is not used. Like the host solve it
    /// keeps each column's best iterate, stops a column that stagnates, scales each column of `b`
    /// by a power of two (no overflow near the top of f64) and reports an undefined kernel or an
    /// `alpha` too small for the precision as typed errors; the initial guess and the iteration
    /// callback of [`ConjugateGradient`] are host-only for now.
    pub fn solve<'b>(
        &self,
        b: impl IntoView<'b, T>,
        alpha: f64,
        cg: &ConjugateGradient,
    ) -> Result<Solution<T>, SolveError<T>> {
        let b = b.into_view();
        cg.check(self.nrows(), self.ncols(), alpha, &b)?;
        let cond = Conditioning::of(self, alpha)?;
        let start = Instant::now();
        let k = b.dim();
        let mut coeffs = vec![T::ZERO; self.nrows() * k];
        let mut outcome = CgOutcome {
            iterations: vec![0; k],
            residuals: vec![0.0; k],
            termination: Termination::Converged,
        };
        let system = (alpha, cond);
        guarded(
            || self.solve_columns(b.as_slice(), k, system, cg, &mut coeffs, &mut outcome),
            |m| KeopsError::Cuda {
                operation: format!("device solve with kernel matrix {}", self.task().id),
                reason: format!("cudarc panicked: {m}"),
            },
        )?;
        let coefficients = Rows::from_vec(coeffs, k).expect("n * k buffer");
        let times = (Duration::ZERO, start);
        outcome.into_solution(coefficients, cg, ("none", 0), times, cond.singular())
    }

    /// The columns of `b` (`(n, k)` row-major) one after another, each by the shared iteration on
    /// the device (scaled by a power of two, as on the host, so that no squared norm overflows);
    /// the solutions into `coeffs`, how each went into `outcome`. `system` is `alpha` and the
    /// operator's scale.
    fn solve_columns(
        &self,
        b: &[T],
        k: usize,
        (alpha, cond): (f64, Conditioning),
        cg: &ConjugateGradient,
        coeffs: &mut [T],
        outcome: &mut CgOutcome,
    ) -> Result<(), KeopsError> {
        let gpu = &self.gpu;
        gpu.bind()?;
        let kernels = self.cg_kernels()?;
        let n = self.nrows();
        let grid = n
            .div_ceil(CG_THREADS as usize)
            .clamp(1, 4 * gpu.inner.sms.max(1));
        let mut bufs = CgBuffers {
            b: gpu.zeros(n * 8, "the right-hand side")?,
            x: gpu.zeros(n * 8, "the solution")?,
            x_best: gpu.zeros(n * 8, "the best iterate")?,
            r: gpu.zeros(n * 8, "the residual")?,
            p: gpu.zeros(n * 8, "the search direction")?,
            ap: gpu.zeros(n * 8, "the product")?,
            t_in: gpu.zeros(n * std::mem::size_of::<T>(), "the product's operand")?,
            t_out: gpu.zeros(n * std::mem::size_of::<T>(), "the product's result")?,
            partial: gpu.zeros(grid * 8, "partial sums")?,
        };
        let mut col = vec![0.0f64; n];
        let mut xcol = vec![0.0f64; n];
        for c in 0..k {
            for (i, v) in col.iter_mut().enumerate() {
                *v = b[i * k + c].to_f64();
            }
            let scale = column_scale(col.iter().fold(0.0f64, |m, v| m.max(v.abs())));
            col.iter_mut().for_each(|v| *v *= scale);
            let b_squares = [col_dot(&col, &col, 1, 0)];
            if b_squares[0] == 0.0 {
                // A zero column has the solution 0: nothing to upload or launch.
                continue;
            }
            let mut vectors = DeviceVectors::load(self, &kernels, &mut bufs, grid, alpha, &col)?;
            let start = CgStart {
                conditioning: Some(cond),
                ..CgStart::plain(&b_squares)
            };
            // Each column is a one-column solve: its breakdown names the column of `b`.
            let column =
                conjugate_gradient(&mut vectors, cg, start).map_err(|e| in_column(e, c))?;
            outcome.iterations[c] = column.iterations[0];
            outcome.residuals[c] = column.residuals[0];
            outcome.merge(column.termination);
            if column.iterations[0] > 0 {
                gpu.download(&bufs.x, &mut xcol)?;
                for (i, v) in xcol.iter().enumerate() {
                    coeffs[i * k + c] = T::from_f64(*v / scale);
                }
            }
        }
        Ok(())
    }

    fn cg_kernels(&self) -> Result<CgKernels, KeopsError> {
        let module = self.gpu.kernel(&self.task(), 1)?.module;
        let f = |name: String| {
            module
                .load_function(&name)
                .map_err(|e| launch_err(&name, e))
        };
        Ok(CgKernels {
            round: f(prelude_kernels::typed(prelude_kernels::CG_ROUND, T::NAME))?,
            curv: f(prelude_kernels::typed(prelude_kernels::CG_CURV, T::NAME))?,
            resid: f(prelude_kernels::typed(prelude_kernels::CG_RESID, T::NAME))?,
            step: f(prelude_kernels::CG_STEP.into())?,
            direction: f(prelude_kernels::CG_DIRECTION.into())?,
        })
    }
}

/// A one-column solve's breakdown, named for column `c` of `b`.
fn in_column(e: KeopsError, c: usize) -> KeopsError {
    match e {
        KeopsError::NotPositiveDefinite {
            iteration,
            curvature,
            ..
        } => KeopsError::NotPositiveDefinite {
            iteration,
            column: c,
            curvature,
        },
        KeopsError::AlphaTooSmall {
            alpha,
            ratio,
            precision,
            suggested,
            detail,
        } => KeopsError::AlphaTooSmall {
            alpha,
            ratio,
            precision,
            suggested,
            detail: detail.replace(
                "right-hand side column 0",
                &format!("right-hand side column {c}"),
            ),
        },
        e => e,
    }
}

/// One column's vectors on the device, with its buffers' addresses and the launch shape of the
/// vector kernels.
struct DeviceVectors<'a, T: Real> {
    matrix: &'a GpuKernelMatrix<T>,
    kernels: &'a CgKernels,
    bufs: &'a mut CgBuffers,
    alpha: f64,
    n: i64,
    grid: usize,
    cfg: LaunchConfig,
    x: u64,
    r: u64,
    p: u64,
    ap: u64,
    b: u64,
    t_out: u64,
    partial: u64,
    /// `p` still holds the uploaded `b`, which is `r`: the first direction needs no copy.
    p_is_r: bool,
}

impl<'a, T: Real> DeviceVectors<'a, T> {
    /// `x = 0` and `b = r = p = col` in `bufs`.
    fn load(
        matrix: &'a GpuKernelMatrix<T>,
        kernels: &'a CgKernels,
        bufs: &'a mut CgBuffers,
        grid: usize,
        alpha: f64,
        col: &[f64],
    ) -> Result<Self, KeopsError> {
        let g = &matrix.gpu;
        let s = &g.inner.stream;
        let zero = vec![0.0f64; col.len()];
        s.memcpy_htod(as_bytes(&zero), &mut bufs.x)
            .map_err(|e| cuda_err("clearing the solution", e))?;
        s.memcpy_htod(as_bytes(&zero), &mut bufs.x_best)
            .map_err(|e| cuda_err("clearing the best iterate", e))?;
        for (dst, what) in [
            (&mut bufs.b, "the right-hand side"),
            (&mut bufs.r, "the residual"),
            (&mut bufs.p, "the search direction"),
        ] {
            s.memcpy_htod(as_bytes(col), dst)
                .map_err(|e| cuda_err(&format!("upload of {what}"), e))?;
        }
        Ok(DeviceVectors {
            alpha,
            n: col.len() as i64,
            grid,
            cfg: cg_config(grid),
            x: g.addr(&bufs.x),
            r: g.addr(&bufs.r),
            p: g.addr(&bufs.p),
            ap: g.addr(&bufs.ap),
            b: g.addr(&bufs.b),
            t_out: g.addr(&bufs.t_out),
            partial: g.addr(&bufs.partial),
            p_is_r: true,
            matrix,
            kernels,
            bufs,
        })
    }

    /// Sum of the `grid` block partial sums the last reduction kernel left in `partial`.
    fn partial_sum(&self) -> Result<f64, KeopsError> {
        let mut host = vec![0.0f64; self.grid];
        self.matrix.gpu.download(&self.bufs.partial, &mut host)?;
        Ok(host.iter().sum())
    }

    /// `v` rounded to `T` into `t_in` (and in place), then `t_out = K t_in` with the matrix's
    /// device data.
    fn rounded_product(&self, v: u64) -> Result<(), KeopsError> {
        let (m, g) = (self.matrix, &self.matrix.gpu);
        let t_in = g.addr(&self.bufs.t_in);
        let mut l = g.inner.stream.launch_builder(&self.kernels.round);
        l.arg(&v).arg(&t_in).arg(&self.n);
        // SAFETY: keops_cg_round_<T>(double* p, T* pt, long long n): v holds n f64, t_in n T.
        unsafe { l.launch(self.cfg) }.map_err(|e| launch_err("keops_cg_round", e))?;
        g.run_matvec(
            &m.task(),
            &m.data,
            t_in,
            self.t_out,
            1,
            m.split,
            m.table.as_ref(),
        )
    }
}

/// One column (`c = 0`), unpreconditioned: `z = r`.
impl<T: Real> CgVectors for DeviceVectors<'_, T> {
    fn preconditioned(&self) -> bool {
        false
    }

    fn curvatures(&mut self, active: &[usize], curvature: &mut [f64]) -> Result<(), KeopsError> {
        debug_assert_eq!(active, [0]);
        self.p_is_r = false;
        self.rounded_product(self.p)?;
        let mut l = self
            .matrix
            .gpu
            .inner
            .stream
            .launch_builder(&self.kernels.curv);
        l.arg(&self.p)
            .arg(&self.t_out)
            .arg(&self.alpha)
            .arg(&self.ap)
            .arg(&self.n)
            .arg(&self.partial);
        // SAFETY: keops_cg_curv_<T>(const double* p, const T* apt, double alpha, double* ap,
        // long long n, double* partial): n entries each, `grid` partials.
        unsafe { l.launch(self.cfg) }.map_err(|e| launch_err("keops_cg_curv", e))?;
        curvature[0] = self.partial_sum()?;
        Ok(())
    }

    fn step(&mut self, _c: usize, step: f64) -> Result<f64, KeopsError> {
        let mut l = self
            .matrix
            .gpu
            .inner
            .stream
            .launch_builder(&self.kernels.step);
        l.arg(&self.x)
            .arg(&self.r)
            .arg(&self.p)
            .arg(&self.ap)
            .arg(&step)
            .arg(&self.n)
            .arg(&self.partial);
        // SAFETY: keops_cg_step(double* x, double* r, const double* p, const double* ap,
        // double step, long long n, double* partial): n f64 each, `grid` partials.
        unsafe { l.launch(self.cfg) }.map_err(|e| launch_err("keops_cg_step", e))?;
        self.partial_sum()
    }

    fn precondition(&mut self, _active: &[usize], _rz: &mut [f64]) -> Result<(), KeopsError> {
        Ok(())
    }

    fn direction(&mut self, _c: usize, beta: f64) -> Result<(), KeopsError> {
        let s = &self.matrix.gpu.inner.stream;
        let mut l = s.launch_builder(&self.kernels.direction);
        l.arg(&self.p).arg(&self.r).arg(&beta).arg(&self.n);
        // SAFETY: keops_cg_direction(double* p, const double* r, double beta, long long n).
        unsafe { l.launch(self.cfg) }.map_err(|e| launch_err("keops_cg_direction", e))?;
        Ok(())
    }

    fn restart_direction(&mut self, _c: usize) -> Result<(), KeopsError> {
        if !self.p_is_r {
            let s = &self.matrix.gpu.inner.stream;
            s.memcpy_dtod(&self.bufs.r, &mut self.bufs.p)
                .map_err(|e| cuda_err("restarting the search direction", e))?;
        }
        Ok(())
    }

    fn true_residual(&mut self, rr: &mut [f64]) -> Result<(), KeopsError> {
        // From x rounded to T (what is returned).
        self.rounded_product(self.x)?;
        let mut l = self
            .matrix
            .gpu
            .inner
            .stream
            .launch_builder(&self.kernels.resid);
        l.arg(&self.b)
            .arg(&self.x)
            .arg(&self.t_out)
            .arg(&self.alpha)
            .arg(&self.r)
            .arg(&self.n)
            .arg(&self.partial);
        // SAFETY: keops_cg_resid_<T>(const double* b, const double* x, const T* axt,
        // double alpha, double* r, long long n, double* partial).
        unsafe { l.launch(self.cfg) }.map_err(|e| launch_err("keops_cg_resid", e))?;
        rr[0] = self.partial_sum()?;
        Ok(())
    }

    fn check_residual(&mut self, _active: &[usize], rr: &mut [f64]) -> Result<(), KeopsError> {
        // ap = x, rounded to T in place (x itself untouched), then ap = b - (alpha I + K) ap.
        let s = &self.matrix.gpu.inner.stream;
        s.memcpy_dtod(&self.bufs.x, &mut self.bufs.ap)
            .map_err(|e| cuda_err("copying the iterate", e))?;
        self.rounded_product(self.ap)?;
        let mut l = s.launch_builder(&self.kernels.resid);
        l.arg(&self.b)
            .arg(&self.ap)
            .arg(&self.t_out)
            .arg(&self.alpha)
            .arg(&self.ap)
            .arg(&self.n)
            .arg(&self.partial);
        // SAFETY: keops_cg_resid_<T>(const double* b, const double* x, const T* axt,
        // double alpha, double* r, long long n, double* partial): `x` and `r` are both `ap`,
        // which the kernel reads and writes at the same index only (n f64).
        unsafe { l.launch(self.cfg) }.map_err(|e| launch_err("keops_cg_resid", e))?;
        rr[0] = self.partial_sum()?;
        Ok(())
    }

    fn direction_square(&mut self, _c: usize) -> Result<f64, KeopsError> {
        let mut p = vec![0.0f64; self.n as usize];
        self.matrix.gpu.download(&self.bufs.p, &mut p)?;
        Ok(p.iter().map(|v| v * v).sum())
    }

    fn save_best(&mut self, _c: usize) -> Result<(), KeopsError> {
        let s = &self.matrix.gpu.inner.stream;
        s.memcpy_dtod(&self.bufs.x, &mut self.bufs.x_best)
            .map_err(|e| cuda_err("saving the best iterate", e))
    }

    fn restore_best(&mut self, _c: usize) -> Result<(), KeopsError> {
        let s = &self.matrix.gpu.inner.stream;
        s.memcpy_dtod(&self.bufs.x_best, &mut self.bufs.x)
            .map_err(|e| cuda_err("restoring the best iterate", e))
    }
}

/// Launch shape of the device-CG vector kernels (keops-abi's `CG_THREADS` threads).
fn cg_config(grid: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (grid as u32, 1, 1),
        block_dim: (CG_THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}
