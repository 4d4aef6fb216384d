fn main() {
    ptx_build::build();
}
