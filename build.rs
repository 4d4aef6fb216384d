//! Finds the crate's kernel! formulas and writes their CUDA module to OUT_DIR; with the `cuda`
//! feature, also their PTX (nvcc). See ptx-build's documentation and README's "Building for a
//! GPU".
fn main() {
    ptx_build::build();
}
