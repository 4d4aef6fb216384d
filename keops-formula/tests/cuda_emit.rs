//! The emitted CUDA compiles as host C++20 under keops_host.h (syntax and types; running it is
//! tested in the keops crate's host-emulation tests).

use keops_formula::{analyze, emit::cuda};
use quote::quote;

#[test]
fn emitted_module_compiles_as_host_cpp() {
    let formulas = [
        quote!(exp(-sqnorm(x_i - y_j) / (2 * s * s))),
        quote!(exp(-norm(x_i - y_j) / s)),
        quote!(sum_j(exp(-sqdist(x_i, y_j)) * b_j)),
        quote!(c: 3 => sum_i(concat(normalize(x_i - c), sqrt(abs(elem(y_j, 0)))) * powf(step(sum(y_j)) + 1, 2))),
        quote!(x_i: 1 => sum_j(ifelse(x_i - y_j, clamp(y_j, 0, 1), min(max(x_i, y_j), 1)) + pow(relu(sign(x_i)), 3))),
    ];
    let fs: Vec<_> = formulas
        .iter()
        .map(|t| analyze(t.clone()).expect("valid formula"))
        .collect();
    let (src, names) = cuda::emit_module(&fs);
    assert!(names.len() > 10);
    let dir = std::env::temp_dir().join(format!("keops_cuda_emit_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keops_host.h"), cuda::HOST_HEADER).unwrap();
    let cpp = format!("#include \"keops_host.h\"\n{src}\nint main() {{ return keops_kernels[0].name ? 0 : 1; }}\n");
    std::fs::write(dir.join("m.cpp"), &cpp).unwrap();
    let out = std::process::Command::new("g++")
        .args([
            "-std=c++20",
            "-DKEOPS_HOST",
            "-fsyntax-only",
            "-Wall",
            "-Wno-unused-variable",
            "-Wno-unused-but-set-variable",
        ])
        .arg(dir.join("m.cpp"))
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: no g++ ({e})");
            return;
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.is_empty(), "g++ failed:\n{err}");
}

/// The prelude's conjugate-gradient kernels (axpy-like updates and block reductions) run under host
/// emulation and match plain loops (tests/host/cg_kernels.cpp).
#[test]
fn cg_kernels_under_host_emulation() {
    let dir = std::env::temp_dir().join(format!("keops_cg_kernels_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keops_host.h"), cuda::HOST_HEADER).unwrap();
    std::fs::write(dir.join("prelude.cuh"), cuda::prelude()).unwrap();
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/host/cg_kernels.cpp");
    let exe = dir.join("cg_kernels");
    let built = std::process::Command::new("g++")
        .args([
            "-std=c++20",
            "-DKEOPS_HOST",
            "-O1",
            "-pthread",
            "-Wall",
            "-I",
        ])
        .arg(&dir)
        .arg(src)
        .arg("-o")
        .arg(&exe)
        .output();
    let built = match built {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: no g++ ({e})");
            return;
        }
    };
    assert!(
        built.status.success(),
        "g++ failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = std::process::Command::new(&exe).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}");
    assert!(stdout.contains("0 failures"), "{stdout}");
}
