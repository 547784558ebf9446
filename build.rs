//! Compiles the BPF programs into libbpf-rs skeletons in OUT_DIR: bpf/flowtap.bpf.c
//! (syscalls) and bpf/tls.bpf.c (TLS library uprobes).

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SOURCES: [(&str, &str); 2] = [
    ("bpf/flowtap.bpf.c", "flowtap.skel.rs"),
    ("bpf/tls.bpf.c", "tls.skel.rs"),
];

fn main() {
    let out_dir =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => panic!("flowtap's BPF programs are not ported to {other} yet"),
        Err(_) => panic!("cargo sets CARGO_CFG_TARGET_ARCH for build scripts"),
    };
    for (src, skel) in SOURCES {
        SkeletonBuilder::new()
            .source(src)
            .clang_args([
                format!("-D__TARGET_ARCH_{arch}"),
                "-Wall".to_string(),
                "-Ibpf".to_string(),
            ])
            .build_and_generate(out_dir.join(skel))
            .unwrap_or_else(|e| panic!("building {src}: {e:#}"));
    }
    for entry in std::fs::read_dir("bpf")
        .expect("bpf/ exists beside build.rs")
        .flatten()
    {
        println!("cargo:rerun-if-changed={}", entry.path().display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
