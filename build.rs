//! Compiles bpf/flowtap.bpf.c into a libbpf-rs skeleton in OUT_DIR.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "bpf/flowtap.bpf.c";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"))
        .join("flowtap.skel.rs");
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => panic!("flowtap's BPF programs are not ported to {other} yet"),
        Err(_) => panic!("cargo sets CARGO_CFG_TARGET_ARCH for build scripts"),
    };
    SkeletonBuilder::new()
        .source(SRC)
        .clang_args([
            format!("-D__TARGET_ARCH_{arch}"),
            "-Wall".to_string(),
            "-Ibpf".to_string(),
        ])
        .build_and_generate(&out)
        .unwrap_or_else(|e| panic!("building {SRC}: {e:#}"));
    for entry in std::fs::read_dir("bpf")
        .expect("bpf/ exists beside build.rs")
        .flatten()
    {
        println!("cargo:rerun-if-changed={}", entry.path().display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
