//! Opens, configures (rodata, map sizes), loads and attaches the BPF programs.

use std::io;
use std::mem::MaybeUninit;

use libbpf_rs::btf::{Btf, BtfType};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapHandle, OpenObject};

use super::features;
use super::links;
use super::ring::{RingPolicy, Rings};
use super::skel::{types::ft_limits, FlowtapSkel, FlowtapSkelBuilder};

/// The most payload bytes the kernel side copies from one syscall, and the default:
/// every ordinary read and write is copied whole (FT_MAX_PAYLOAD in bpf/flowtap.h).
pub const MAX_PAYLOAD: u32 = ft_limits::FT_MAX_PAYLOAD.0;

/// Which processes the kernel side reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every process on the host (but flowtap itself).
    AllProcesses,
    /// These processes, their descendants at start, and every process they fork later.
    ProcessTrees(Vec<u32>),
    /// Processes in the cgroups added through [`Filters`](super::Filters), e.g. containers.
    Cgroups,
}

#[derive(Debug, Clone)]
pub struct CaptureConfig {
    pub scope: Scope,
    /// Payload bytes copied per syscall; the rest is counted.
    pub max_payload: u32,
    /// The ring buffer's size in bytes at start and once traffic is light
    /// again, and the most it grows to while traffic outpaces the reader
    /// (src/capture/ring.rs): powers of two of at least one page.
    pub ring_start_bytes: u32,
    pub ring_max_bytes: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "capturing needs root, or the capabilities CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN, \
         to load its BPF programs"
    )]
    Permission,
    #[error("tracefs is not mounted, and mounting it in a private mount namespace failed: {0}")]
    Tracefs(io::Error),
    #[error("{what}")]
    Bpf {
        what: &'static str,
        source: libbpf_rs::Error,
    },
    /// Denied although the privileges were there (they are checked first): the
    /// verifier rejected a program, or a security policy forbids the operation.
    #[error(
        "{what}: the kernel refused it (`flowtap capture -v` shows libbpf's log, with \
         the verifier's when a program was rejected)"
    )]
    Refused {
        what: &'static str,
        source: libbpf_rs::Error,
    },
    /// A kernel feature the programs need is missing (one sentence, from `features`).
    #[error("{0}")]
    Kernel(String),
    #[error("invalid capture setting: {0}")]
    Config(String),
    #[error("the capture thread stopped unexpectedly")]
    ThreadLost,
}

impl CaptureError {
    /// A failed BPF operation. Privileges were checked before any (see
    /// [`check_privileges`]), so EPERM or EACCES here is the kernel refusing,
    /// not missing capabilities: a verifier rejection is EACCES.
    pub(super) fn bpf(what: &'static str) -> impl FnOnce(libbpf_rs::Error) -> CaptureError {
        move |source| {
            if source.kind() == libbpf_rs::ErrorKind::PermissionDenied {
                CaptureError::Refused { what, source }
            } else {
                CaptureError::Bpf { what, source }
            }
        }
    }
}

impl CaptureConfig {
    pub fn validate(&self) -> Result<(), CaptureError> {
        for bytes in [self.ring_start_bytes, self.ring_max_bytes] {
            if !bytes.is_power_of_two() || bytes < 4096 {
                return Err(CaptureError::Config(format!(
                    "ring buffer size {bytes} is not a power of two of at least 4096 bytes"
                )));
            }
        }
        if self.ring_start_bytes > self.ring_max_bytes {
            return Err(CaptureError::Config(format!(
                "the ring buffer's start size ({} MiB) is over its largest ({} MiB)",
                self.ring_start_bytes >> 20,
                self.ring_max_bytes >> 20
            )));
        }
        if self.max_payload > MAX_PAYLOAD {
            return Err(CaptureError::Config(format!(
                "--max-payload {} is over the kernel side's limit of {} MiB per syscall",
                self.max_payload,
                MAX_PAYLOAD >> 20
            )));
        }
        if let Scope::ProcessTrees(pids) = &self.scope {
            if pids.is_empty() {
                return Err(CaptureError::Config("no process id to trace".into()));
            }
        }
        Ok(())
    }
}

/// Capability bits (linux/capability.h) that loading and attaching needs.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Whether this process may load tracing programs (and mount tracefs, when
/// `must_mount`), from the CapEff line of /proc/self/status. Checked up front so
/// that the answer is one clear sentence, not libbpf's log of a failed load.
pub(super) fn has_privileges(proc_status: &str, must_mount: bool) -> bool {
    let Some(eff) = proc_status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
    else {
        return false;
    };
    let has = |cap: u32| eff & (1u64 << cap) != 0;
    let can_trace = has(CAP_BPF) && has(CAP_PERFMON) || has(CAP_SYS_ADMIN);
    can_trace && (!must_mount || has(CAP_SYS_ADMIN))
}

pub(super) fn check_privileges(must_mount: bool) -> Result<(), CaptureError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if has_privileges(&status, must_mount) {
        Ok(())
    } else {
        Err(CaptureError::Permission)
    }
}

/// The loaded object, and its programs' links.
pub(super) fn load<'obj>(
    object: &'obj mut MaybeUninit<OpenObject>,
    config: &CaptureConfig,
) -> Result<(FlowtapSkel<'obj>, Rings, Vec<Link>), CaptureError> {
    let mut open = FlowtapSkelBuilder::default()
        .open(object)
        .map_err(CaptureError::bpf("opening the BPF object"))?;
    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or(CaptureError::Config(
            "the BPF object has no read-only data section".into(),
        ))?;
    rodata.trace_all = config.scope == Scope::AllProcesses;
    rodata.max_payload = config.max_payload;
    rodata.self_tgid = std::process::id();
    rodata.pid_filter = matches!(config.scope, Scope::ProcessTrees(_));
    let vmlinux = Btf::from_vmlinux().ok();
    rodata.typed_casts = features::typed_casts(vmlinux.as_ref());
    // Placing calls by the sequence number under the socket lock
    // (bpf/placement.bpf.h) needs tracepoints newer kernels have; without them
    // a call two threads overlapped on is reported unplaced, not misplaced.
    let has = |tracepoint: &str| {
        vmlinux.as_ref().is_some_and(|btf| {
            btf.type_by_name::<BtfType>(&format!("btf_trace_{tracepoint}"))
                .is_some()
        })
    };
    if !has("tcp_sendmsg_locked") {
        open.progs.on_sendmsg_locked.set_autoload(false);
    }
    if !has("tcp_rcv_space_adjust") {
        open.progs.on_rcv_space_adjust.set_autoload(false);
    }
    drop(vmlinux);
    let skel = open
        .load()
        .map_err(CaptureError::bpf("loading the BPF programs"))?;
    // The first ring is in its slot before any program runs.
    let slot = MapHandle::try_from(&skel.maps.rings)
        .map_err(CaptureError::bpf("opening the ring buffer slot"))?;
    let policy = RingPolicy::new(
        config.ring_start_bytes,
        config.ring_max_bytes,
        std::time::Instant::now(),
    );
    let rings = Rings::new(slot, policy)?;
    let links = links::attach_all(skel.object())
        .map_err(CaptureError::bpf("attaching the BPF programs"))?;
    Ok((skel, rings, links))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_after_the_privilege_check_is_not_called_missing_privileges() {
        // What the verifier's rejection of a program comes back as.
        let rejected = libbpf_rs::Error::from(io::Error::from_raw_os_error(libc::EACCES));
        let e = CaptureError::bpf("loading the BPF programs")(rejected);
        assert!(matches!(e, CaptureError::Refused { .. }), "{e:?}");
        let said = e.to_string();
        assert!(
            said.starts_with("loading the BPF programs: the kernel refused it"),
            "{said}"
        );
        assert!(said.contains("-v"), "{said}");
        let other = libbpf_rs::Error::from(io::Error::from_raw_os_error(libc::ENOENT));
        assert!(matches!(
            CaptureError::bpf("attaching")(other),
            CaptureError::Bpf { .. }
        ));
    }

    #[test]
    fn privileges_come_from_cap_eff() {
        assert!(has_privileges(
            "Name:\tx\nCapEff:\t000001ffffffffff\n",
            true
        ));
        assert!(
            has_privileges("CapEff:\t000001fffeffffff\n", true),
            "root without CAP_SYS_RESOURCE"
        );
        assert!(!has_privileges("CapEff:\t0000000000000000\n", false));
        let bpf_perfmon = format!(
            "CapEff:\t{:016x}\n",
            (1u64 << CAP_BPF) | (1u64 << CAP_PERFMON)
        );
        assert!(has_privileges(&bpf_perfmon, false));
        assert!(
            !has_privileges(&bpf_perfmon, true),
            "mounting tracefs needs CAP_SYS_ADMIN"
        );
        assert!(!has_privileges("garbage", false));
    }

    #[test]
    fn config_is_validated() {
        let ok = CaptureConfig {
            scope: Scope::AllProcesses,
            max_payload: 65536,
            ring_start_bytes: 1 << 23,
            ring_max_bytes: 1 << 26,
        };
        assert!(ok.validate().is_ok());
        for (start, max) in [(3 << 20, 1 << 26), (1 << 23, 3 << 20), (1 << 24, 1 << 23)] {
            assert!(CaptureConfig {
                ring_start_bytes: start,
                ring_max_bytes: max,
                ..ok.clone()
            }
            .validate()
            .is_err());
        }
        assert!(CaptureConfig {
            max_payload: MAX_PAYLOAD,
            ..ok.clone()
        }
        .validate()
        .is_ok());
        assert!(CaptureConfig {
            max_payload: MAX_PAYLOAD + 1,
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(CaptureConfig {
            scope: Scope::ProcessTrees(vec![]),
            ..ok
        }
        .validate()
        .is_err());
    }
}
