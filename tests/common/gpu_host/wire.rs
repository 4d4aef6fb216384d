//! The driver's wire format: requests (buffers, launches, `KernelArgs` bytes) and responses, and
//! running one driver process.

use super::*;

pub(super) struct Launch {
    pub(super) name: String,
    pub(super) plan: LaunchPlan,
    /// The combining pass: columns per output row, row stride of out, first column.
    pub(super) combine: (usize, usize, usize),
    /// Reductions other than the sum: `keops_combine_red`'s kind code (0 for the sum), entries
    /// per row, K.
    pub(super) red: (i32, usize, usize),
    /// f64 entries of the partial buffer (0: none).
    pub(super) partial_len: usize,
    pub(super) args: KernelArgs,
}

pub(super) struct Job {
    pub(super) out_len: usize,
    pub(super) idx_len: usize,
    pub(super) launches: Vec<Launch>,
}

fn put_u32(b: &mut Vec<u8>, x: u32) {
    b.extend_from_slice(&x.to_le_bytes());
}
fn put_u64(b: &mut Vec<u8>, x: u64) {
    b.extend_from_slice(&x.to_le_bytes());
}
fn put_i32(b: &mut Vec<u8>, x: usize) {
    b.extend_from_slice(&i32::try_from(x).expect("fits an int").to_le_bytes());
}
fn put_reals<T: Real>(b: &mut Vec<u8>, xs: &[T]) {
    put_u64(b, xs.len() as u64);
    for x in xs {
        if std::mem::size_of::<T>() == 4 {
            b.extend_from_slice(&(x.to_f64() as f32).to_le_bytes());
        } else {
            b.extend_from_slice(&x.to_f64().to_le_bytes());
        }
    }
}

fn args_bytes(a: &KernelArgs) -> &[u8] {
    const _: () = assert!(std::mem::size_of::<KernelArgs>() == 408);
    // SAFETY: KernelArgs is #[repr(C)], made of u64/i64/i32 fields laid out without padding
    // (408 bytes: 35 eight-byte words, 20 four-byte ones, then three eight-byte words from
    // offset 384), so every byte is initialised.
    unsafe {
        std::slice::from_raw_parts(
            (a as *const KernelArgs).cast::<u8>(),
            std::mem::size_of::<KernelArgs>(),
        )
    }
}

/// Raw bytes, after their length.
fn put_bytes(b: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(b, bytes.len() as u64);
    b.extend_from_slice(bytes);
}

/// The request: the data `(vars, params, v)`, a block-sparse launch's table (empty buffers for
/// none), the jobs.
pub(super) fn request<T: Real>(
    timeout_ms: u32,
    (vars, params, v): (&[&[T]], &[&[T]], &[T]),
    table: Option<&BlockTable>,
    jobs: &[Job],
) -> Vec<u8> {
    let mut b = Vec::new();
    put_u32(&mut b, REQUEST_MAGIC);
    put_u32(&mut b, std::mem::size_of::<T>() as u32);
    put_u32(&mut b, timeout_ms);
    put_u32(&mut b, vars.len() as u32);
    for x in vars {
        put_reals(&mut b, x);
    }
    put_u32(&mut b, params.len() as u32);
    for x in params {
        put_reals(&mut b, x);
    }
    put_reals(&mut b, v);
    put_bytes(&mut b, &table.map_or(Vec::new(), BlockTable::block_bytes));
    put_bytes(&mut b, &table.map_or(Vec::new(), BlockTable::range_bytes));
    put_u32(&mut b, jobs.len() as u32);
    for job in jobs {
        put_u64(&mut b, job.out_len as u64);
        put_u64(&mut b, job.idx_len as u64);
        put_u32(&mut b, job.launches.len() as u32);
        for l in &job.launches {
            put_u32(&mut b, l.name.len() as u32);
            b.extend_from_slice(l.name.as_bytes());
            put_u32(&mut b, l.plan.grid_x);
            put_u32(&mut b, l.plan.grid_y);
            put_u32(&mut b, l.plan.block);
            put_u64(&mut b, l.plan.shared_bytes as u64);
            put_i32(&mut b, l.combine.0);
            put_i32(&mut b, l.combine.1);
            put_i32(&mut b, l.combine.2);
            b.extend_from_slice(&l.red.0.to_le_bytes());
            put_i32(&mut b, l.red.1);
            put_i32(&mut b, l.red.2);
            put_u64(&mut b, l.partial_len as u64);
            put_u32(&mut b, std::mem::size_of::<KernelArgs>() as u32);
            b.extend_from_slice(args_bytes(&l.args));
        }
    }
    b
}

/// Runs `driver` on `req`; the response's outputs and per-job seconds.
type Response<T> = (Vec<Vec<T>>, Vec<Vec<i64>>, Vec<f64>);

pub(super) fn exec<T: Real>(
    driver: &Driver,
    req: &[u8],
    kill_after: Duration,
) -> Result<Response<T>, String> {
    let dir = Path::new(CACHE).join("runs");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let base = dir.join(format!("{}-{}", std::process::id(), unique()));
    let (req_p, resp_p, err_p) = (
        base.with_extension("req"),
        base.with_extension("resp"),
        base.with_extension("err"),
    );
    let cleanup = || {
        for p in [&req_p, &resp_p, &err_p] {
            let _ = std::fs::remove_file(p);
        }
    };
    std::fs::write(&req_p, req).map_err(|e| format!("cannot write {}: {e}", req_p.display()))?;
    let err_file = std::fs::File::create(&err_p).map_err(|e| e.to_string())?;
    let mut child = Command::new(&driver.exe)
        .arg(&req_p)
        .arg(&resp_p)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", driver.exe.display()))?;
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if t0.elapsed() > kill_after {
            let _ = child.kill();
            let _ = child.wait();
            cleanup();
            return Err(format!(
                "the host driver was killed after {kill_after:?} (a kernel hangs)"
            ));
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let stderr = std::fs::read_to_string(&err_p).unwrap_or_default();
    if !status.success() {
        cleanup();
        return Err(format!(
            "host driver failed ({status}): {}",
            stderr.trim_end()
        ));
    }
    let resp = std::fs::read(&resp_p).map_err(|e| format!("no response: {e}"));
    cleanup();
    parse_response(&resp?)
}

fn parse_response<T: Real>(r: &[u8]) -> Result<Response<T>, String> {
    let mut pos = 0;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = r.get(pos..pos + n).ok_or("truncated response")?;
        pos += n;
        Ok(s)
    };
    let u32_of = |s: &[u8]| u32::from_le_bytes(s.try_into().unwrap());
    if u32_of(take(4)?) != RESPONSE_MAGIC {
        return Err("bad response".into());
    }
    let njobs = u32_of(take(4)?) as usize;
    let (mut outs, mut idx, mut secs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..njobs {
        secs.push(f64::from_le_bytes(take(8)?.try_into().unwrap()));
        let n = u64::from_le_bytes(take(8)?.try_into().unwrap()) as usize;
        let size = std::mem::size_of::<T>();
        let data = take(n * size)?;
        outs.push(
            data.chunks_exact(size)
                .map(|c| {
                    T::from_f64(if size == 4 {
                        f32::from_le_bytes(c.try_into().unwrap()) as f64
                    } else {
                        f64::from_le_bytes(c.try_into().unwrap())
                    })
                })
                .collect(),
        );
        let n = u64::from_le_bytes(take(8)?.try_into().unwrap()) as usize;
        let data = take(n * 8)?;
        idx.push(
            data.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        );
    }
    Ok((outs, idx, secs))
}
