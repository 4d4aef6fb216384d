//! Where the kernels came from (nvcc's PTX or NVRTC), and NVRTC compiling every formula's source.

use super::*;

/// Where the kernels came from (nvcc's PTX or NVRTC), and the loading log.
#[test]
fn kernel_sources_are_recorded() {
    let Some(gpu) = gpu_or_skip() else {
        return;
    };
    let x: Vec<f64> = (0..300).map(|i| i as f64 / 300.0).collect();
    let red = kernel!(sum_j(exp(-sqnorm(x_i - y_j)) * b_j))
        .x_i(&x)
        .y_j(&x)
        .b_j(&x)
        .bind()
        .unwrap();
    let task = red.gpu_task();
    let got = cuda::reduce(&gpu, &task).unwrap();
    let want: Vec<f64> = x
        .iter()
        .map(|&xi| {
            x.iter()
                .map(|&yj| (-(xi - yj) * (xi - yj)).exp() * yj)
                .sum()
        })
        .collect();
    let scale: Vec<f64> = x
        .iter()
        .map(|&xi| {
            x.iter()
                .map(|&yj| (-(xi - yj) * (xi - yj)).exp() * yj.abs())
                .sum()
        })
        .collect();
    assert_close("sum_j on the GPU", &got, &want, &scale, 1e-12);
    let name = task.kernel_name(0).unwrap();
    let source = gpu.kernel_source(&name).expect("loaded");
    // nvcc's PTX when the build found nvcc (and the driver accepted it), else NVRTC.
    assert!(matches!(source, KernelSource::Ptx | KernelSource::Nvrtc));
    if task.ptx.trim().is_empty() {
        assert_eq!(source, KernelSource::Nvrtc);
    }
    println!("{name}: {source:?}");
    for line in gpu.log() {
        println!("  {line}");
    }
    assert!(gpu.kernels().iter().any(|(n, _)| *n == name));
}

/// Needs NVRTC only (no driver, no GPU): every formula's CUDA source, as the backend would
/// compile it at run time, compiles for Ampere and Hopper, and the PTX holds the kernel the call
/// would launch and the combining pass. Run with `LD_LIBRARY_PATH` pointing at a libnvrtc.so.
#[test]
fn nvrtc_compiles_the_formula_sources() {
    if !cuda::nvrtc_available() {
        println!("skipped: NVRTC (libnvrtc.so) not found");
        return;
    }
    let x: Vec<f64> = (0..20).map(|i| i as f64 / 20.0).collect();
    let x3: Vec<[f64; 3]> = x.iter().map(|&v| [v, v * v, 1.0 - v]).collect();
    let y2: Vec<[f64; 2]> = x.iter().map(|&v| [v, 0.5 - v]).collect();
    let x2: Vec<[f32; 2]> = x.iter().map(|&v| [v as f32, 1.0]).collect();
    let (s, g) = (0.1, 2.0);
    let c = [0.1, 0.2, 0.3];
    // (kernel name, formula id, CUDA source) of each bound formula.
    let mut cases: Vec<(String, &'static str, &'static str)> = Vec::new();
    macro_rules! case {
        ($task:expr, $columns:expr) => {{
            let t = $task;
            cases.push((t.kernel_name($columns).unwrap(), t.id, t.source));
        }};
    }
    let gauss = kernel!(exp(-sqnorm(x_i - y_j) / (2 * s * s)))
        .x_i(&x)
        .y_j(&x)
        .matrix()
        .unwrap();
    case!(gauss.gpu_task(), 8);
    let lap = kernel!(exp(-norm(x_i - y_j) / s))
        .x_i(&x2)
        .y_j(&x2)
        .matrix()
        .unwrap();
    case!(lap.gpu_task(), 1);
    let vec_sum = kernel!(sum_j(exp(-sqdist(x_i, y_j) * g) * b_j))
        .x_i(&x3)
        .y_j(&x3)
        .b_j(&y2)
        .bind()
        .unwrap();
    case!(vec_sum.gpu_task(), 0);
    let odd = kernel!(c: 3 => sum_i(concat(normalize(x_i - c), sqrt(abs(elem(y_j, 0)))) * powf(step(sum(y_j)) + 1, 2)))
        .x_i(&x3)
        .y_j(&y2)
        .bind()
        .unwrap();
    case!(odd.gpu_task(), 0);
    let branchy = kernel!(x_i: 1 => sum_j(ifelse(x_i - y_j, clamp(y_j, 0, 1), min(max(x_i, y_j), 1)) + pow(relu(sign(x_i)), 3)))
        .x_i(&x)
        .y_j(&x)
        .bind()
        .unwrap();
    case!(branchy.gpu_task(), 0);
    for (kernel, id, source) in &cases {
        assert!(
            !source.is_empty(),
            "{id}: no CUDA source with the cuda feature"
        );
        for arch in ["compute_80", "compute_90"] {
            let ptx = cuda::nvrtc_compile(source, id, arch).unwrap_or_else(|e| panic!("{e}"));
            for entry in [kernel.as_str(), "keops_combine_f32", "keops_combine_f64"] {
                assert!(
                    ptx.contains(&format!(".entry {entry}(")),
                    "{arch}: {entry} missing from the PTX of {id}"
                );
            }
            println!("{id} for {arch}: {} bytes of PTX", ptx.len());
        }
    }
    // A compile error is a typed error carrying NVRTC's log.
    match cuda::nvrtc_compile(
        "extern \"C\" __global__ void k() { undefined_thing(); }",
        "bad",
        "compute_90",
    ) {
        Err(KeopsError::Nvrtc { log }) => assert!(log.contains("undefined_thing"), "{log}"),
        other => panic!("{other:?}"),
    }
}
