//! What the kernel must offer before the BPF programs can load: BTF, the ring
//! buffer, task storage, `bpf_loop` and `bpf_task_pt_regs`. Probed up front so a
//! host that lacks one gets one sentence naming it, not libbpf's verifier log.

use std::path::Path;

use libbpf_rs::btf::{Btf, BtfType};
use libbpf_rs::libbpf_sys;
use libbpf_rs::MapType;

/// The oldest kernel that has everything below (`bpf_loop` came last, in 5.17).
pub const MIN_KERNEL: &str = "5.17";

/// One kernel feature the programs use, with the release that brought it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Btf,
    RingBuffer,
    TaskStorage,
    BpfLoop,
    TaskPtRegs,
}

impl Feature {
    pub const ALL: [Feature; 5] = [
        Feature::Btf,
        Feature::RingBuffer,
        Feature::TaskStorage,
        Feature::BpfLoop,
        Feature::TaskPtRegs,
    ];

    /// The name used in messages and in `FLOWTAP_PRETEND_MISSING`.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Btf => "btf",
            Feature::RingBuffer => "ringbuf",
            Feature::TaskStorage => "task_storage",
            Feature::BpfLoop => "bpf_loop",
            Feature::TaskPtRegs => "bpf_task_pt_regs",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Feature::Btf => "kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)",
            Feature::RingBuffer => "the BPF ring buffer (Linux 5.8)",
            Feature::TaskStorage => "BPF task storage (Linux 5.11)",
            Feature::BpfLoop => "the bpf_loop helper (Linux 5.17)",
            Feature::TaskPtRegs => "the bpf_task_pt_regs helper (Linux 5.15)",
        }
    }
}

/// Whether the kernel has `bpf_rdonly_cast` (Linux 6.2), with which the
/// programs read kernel structs behind untyped pointers with plain loads
/// (bpf/tcpsock.bpf.h); without it they take a helper call per field. Not
/// required: `FLOWTAP_PRETEND_MISSING` naming `bpf_rdonly_cast` turns it off, so
/// that a test runs the older kernels' path.
pub fn typed_casts(btf: Option<&Btf<'_>>) -> bool {
    !pretended()
        .split(',')
        .any(|f| f.trim() == "bpf_rdonly_cast")
        && btf.is_some_and(|btf| btf.type_by_name::<BtfType>("bpf_rdonly_cast").is_some())
}

/// What `FLOWTAP_PRETEND_MISSING` names, comma-separated (empty when unset).
pub fn pretended() -> String {
    std::env::var("FLOWTAP_PRETEND_MISSING").unwrap_or_default()
}

/// The one sentence for what is missing, or None when nothing is.
pub fn missing_message(missing: &[Feature]) -> Option<String> {
    if missing.is_empty() {
        return None;
    }
    let names: Vec<&str> = missing.iter().map(|f| f.describe()).collect();
    Some(format!(
        "this kernel lacks {}; flowtap needs Linux {MIN_KERNEL} or later built with BTF",
        names.join(", ")
    ))
}

/// The features this kernel lacks. `pretend` names features to report missing
/// whatever the probe says (`FLOWTAP_PRETEND_MISSING`, comma-separated), so that
/// a test can show each message on a kernel that has them all.
pub fn probe(pretend: &str) -> Vec<Feature> {
    let pretended: Vec<&str> = pretend.split(',').map(str::trim).collect();
    Feature::ALL
        .into_iter()
        .filter(|f| pretended.contains(&f.name()) || !present(*f))
        .collect()
}

fn present(feature: Feature) -> bool {
    match feature {
        Feature::Btf => Path::new("/sys/kernel/btf/vmlinux").exists(),
        // A probe that fails to run (an error, not a "no") does not block: the
        // load then says what is wrong.
        Feature::RingBuffer => MapType::RingBuf.is_supported().unwrap_or(true),
        Feature::TaskStorage => MapType::TaskStorage.is_supported().unwrap_or(true),
        Feature::BpfLoop => helper(libbpf_sys::BPF_FUNC_loop),
        Feature::TaskPtRegs => helper(libbpf_sys::BPF_FUNC_task_pt_regs),
    }
}

fn helper(id: libbpf_sys::bpf_func_id) -> bool {
    // SAFETY: a plain probe call; a null options pointer is allowed.
    let ret = unsafe {
        libbpf_sys::libbpf_probe_bpf_helper(
            libbpf_sys::BPF_PROG_TYPE_TRACEPOINT,
            id,
            std::ptr::null(),
        )
    };
    ret != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_missing_says_nothing() {
        assert_eq!(missing_message(&[]), None);
    }

    #[test]
    fn each_missing_feature_is_named_with_the_kernel_needed() {
        for f in Feature::ALL {
            let msg = missing_message(&[f]).unwrap();
            assert!(msg.contains(f.describe()), "{msg}");
            assert!(msg.contains("Linux 5.17 or later"), "{msg}");
            assert!(!msg.contains('\n'), "one sentence: {msg}");
        }
        let two = missing_message(&[Feature::RingBuffer, Feature::BpfLoop]).unwrap();
        assert!(
            two.contains("ring buffer") && two.contains("bpf_loop"),
            "{two}"
        );
    }

    #[test]
    fn pretended_features_are_reported_missing() {
        for f in Feature::ALL {
            assert!(probe(f.name()).contains(&f), "{f:?}");
        }
    }
}
