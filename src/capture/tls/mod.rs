//! TLS plaintext: loads bpf/tls.bpf.c onto the main object's ring buffer and
//! filter maps (shared by fd), and attaches its uprobes once per OpenSSL libssl
//! file (device, inode) that a traced process maps, or executable that has
//! OpenSSL linked in statically, rescanning as processes come.

mod go;
mod goprobes;
mod maps;
mod skel;
mod symbols;

use std::collections::{HashMap, HashSet};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, MapHandle, OpenObject, ProgramMut, UprobeOpts};
use symbols::{ssl_library_in, SslLibrary};

use super::links;
use super::loader::{CaptureConfig, CaptureError, Scope};
use super::skel::types::ft_syscall;
use super::skel::FlowtapSkel;
use skel::{TlsSkel, TlsSkelBuilder};

use maps::{is_openssl_libcrypto, is_openssl_libssl, openssl_libraries, Library};

/// Where a host's own libssl lives; attached at start, so that a short-lived
/// process using it (curl) is covered before any rescan could see it.
const HOST_LIBRARY_DIRS: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
];

/// Host executables with OpenSSL built in, attached at start for the same
/// reason: Node's first connection can come before its exec is looked at.
const HOST_EXECUTABLES: [&str; 2] = ["/usr/bin/node", "/usr/local/bin/node"];

/// A process that just exec'd is looked at again this long after (its dynamic
/// loader maps libssl after exec).
const AFTER_EXEC: Duration = Duration::from_millis(100);

/// Known pids are read again every this many rescans (a process may load libssl
/// late, as Python does on `import ssl`); new pids at every one.
const FULL_RESCAN_EVERY: u64 = 5;

/// Executables remembered with what they link in (so that each is read once);
/// past this many the memory starts afresh.
const EXECUTABLES_MAX: usize = 16 * 1024;

/// The TLS object, its uprobe links, and what was attached or refused.
pub struct TlsProbes<'obj> {
    skel: TlsSkel<'obj>,
    links: Vec<Link>,
    scope: Scope,
    attached: HashSet<(u64, u64, Library)>,
    refused: HashSet<(u64, u64, Library)>,
    /// Executables (device, inode) read, and the TLS library linked into each.
    executables: HashMap<(u64, u64), Option<SslLibrary>>,
    known_pids: HashSet<u32>,
    reported_pids: HashSet<u32>,
    rounds: u64,
    /// Processes that exec'd, and when to look at them once more.
    after_exec: Vec<(u32, Instant)>,
    /// Processes whose TLS could not be hooked (each reported once on stderr).
    pub unhookable: u64,
    go: goprobes::GoBinaries,
}

impl<'obj> TlsProbes<'obj> {
    /// Loads the TLS programs against `main`'s ring buffer and filters and
    /// attaches their syscall tracepoints; uprobes come with [`rescan`](Self::rescan).
    pub fn load(
        object: &'obj mut MaybeUninit<OpenObject>,
        main: &FlowtapSkel<'_>,
        config: &CaptureConfig,
    ) -> Result<Self, CaptureError> {
        let mut open = TlsSkelBuilder::default()
            .open(object)
            .map_err(CaptureError::bpf("opening the TLS BPF object"))?;
        let rodata = open
            .maps
            .rodata_data
            .as_deref_mut()
            .ok_or(CaptureError::Config(
                "the TLS BPF object has no read-only data section".into(),
            ))?;
        rodata.trace_all = config.scope == Scope::AllProcesses;
        rodata.max_payload = config.max_payload;
        rodata.self_tgid = std::process::id();
        rodata.pid_filter = matches!(config.scope, Scope::ProcessTrees(_));
        // The main object looked the kfunc up in the kernel's BTF already.
        rodata.typed_casts = main.maps.rodata_data.is_some_and(|main| main.typed_casts);
        let share = CaptureError::bpf("sharing the main object's maps with the TLS object");
        let shared = [
            open.maps.rings.reuse_fd(main.maps.rings.as_fd()),
            open.maps.drops.reuse_fd(main.maps.drops.as_fd()),
            open.maps
                .traced_cgroups
                .reuse_fd(main.maps.traced_cgroups.as_fd()),
            open.maps
                .traced_tgids
                .reuse_fd(main.maps.traced_tgids.as_fd()),
            open.maps.filter_gen.reuse_fd(main.maps.filter_gen.as_fd()),
            open.maps.verdicts.reuse_fd(main.maps.verdicts.as_fd()),
        ];
        if let Some(Err(e)) = shared.into_iter().find(Result::is_err) {
            return Err(share(e));
        }
        let skel = open
            .load()
            .map_err(CaptureError::bpf("loading the TLS BPF programs"))?;
        // The tracepoints; uprobes come per library.
        let links = links::attach_all(skel.object())
            .map_err(CaptureError::bpf("attaching the TLS tracepoints"))?;
        let mut probes = TlsProbes {
            skel,
            links,
            scope: config.scope.clone(),
            attached: HashSet::new(),
            refused: HashSet::new(),
            executables: HashMap::new(),
            known_pids: HashSet::new(),
            reported_pids: HashSet::new(),
            rounds: 0,
            after_exec: Vec::new(),
            unhookable: 0,
            go: goprobes::GoBinaries::default(),
        };
        for dir in HOST_LIBRARY_DIRS {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                // A host library is only a head start: failing here says nothing yet.
                if is_openssl_libssl(&name) {
                    let _ = probes.attach_library(&entry.path(), Library::Ssl);
                } else if is_openssl_libcrypto(&name) {
                    let _ = probes.attach_library(&entry.path(), Library::Crypto);
                }
            }
        }
        for exe in HOST_EXECUTABLES {
            let path = Path::new(exe);
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            let found = ssl_library_in(path);
            probes.executables.insert((meta.dev(), meta.ino()), found);
            if found.is_some() {
                let _ = probes.attach_library(path, Library::Ssl);
                let _ = probes.attach_library(path, Library::Crypto);
            }
        }
        Ok(probes)
    }

    /// The ring on which the kernel names traced processes as they exec (a
    /// `u32` tgid per record): hand each to [`exec`](Self::exec).
    /// The links, for detaching with the capture's own (see
    /// [`links::detach_all`]); nothing is hooked after this.
    pub fn take_links(&mut self) -> Vec<Link> {
        std::mem::take(&mut self.links)
    }

    pub fn exec_ring(&self) -> Result<MapHandle, CaptureError> {
        MapHandle::try_from(&self.skel.maps.execs)
            .map_err(CaptureError::bpf("opening the TLS object's exec ring"))
    }

    /// A traced process just exec'd: looked at now and once more shortly.
    pub fn exec(&mut self, pid: u32) {
        self.known_pids.insert(pid);
        self.scan_process(pid);
        self.after_exec.push((pid, Instant::now() + AFTER_EXEC));
    }

    /// The kernel's count of SSL calls whose socket it could not tell (no
    /// syscall inside the call, nothing cached for its `SSL*`), sent on keyed
    /// by their `SSL*` for userspace to tie: a per-CPU `u64`.
    pub fn unmapped(&self) -> &dyn MapCore {
        &self.skel.maps.unmapped
    }

    /// Looks again at processes whose exec was a moment ago.
    pub fn tick(&mut self) {
        let now = Instant::now();
        let due: Vec<u32> = self
            .after_exec
            .iter()
            .filter(|(_, at)| *at <= now)
            .map(|(pid, _)| *pid)
            .collect();
        self.after_exec.retain(|(_, at)| *at > now);
        for pid in due {
            self.scan_process(pid);
        }
        self.report_wrapped_go_conns();
    }

    /// Looks at traced processes for libssl files not attached yet.
    pub fn rescan(&mut self) {
        self.rounds += 1;
        let full = self.rounds % FULL_RESCAN_EVERY == 1;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        let me = std::process::id();
        let mut alive = HashSet::new();
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            alive.insert(pid);
            if !full && self.known_pids.contains(&pid) {
                continue;
            }
            if !self.is_traced(pid) {
                continue;
            }
            self.known_pids.insert(pid);
            self.scan_process(pid);
        }
        self.known_pids.retain(|p| alive.contains(p));
        self.reported_pids.retain(|p| alive.contains(p));
    }

    fn is_traced(&self, pid: u32) -> bool {
        match &self.scope {
            Scope::AllProcesses => true,
            Scope::ProcessTrees(_) => matches!(
                self.skel
                    .maps
                    .traced_tgids
                    .lookup(&pid.to_ne_bytes(), MapFlags::ANY),
                Ok(Some(_))
            ),
            // The process's cgroup or one above it, as the kernel side decides.
            Scope::Cgroups => cgroup_ids_of(pid).iter().any(|id| {
                matches!(
                    self.skel
                        .maps
                        .traced_cgroups
                        .lookup(&id.to_ne_bytes(), MapFlags::ANY),
                    Ok(Some(_))
                )
            }),
        }
    }

    fn scan_process(&mut self, pid: u32) {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            return;
        };
        let mut libs = openssl_libraries(&text);
        // libcrypto alone (ssh, hashlib) drives no TLS: its BIO calls are left alone.
        if !libs.iter().any(|l| l.kind == Library::Ssl) {
            libs.clear();
        }
        // Node has OpenSSL built in (and exports its symbols): it is found as
        // any executable with OpenSSL linked in, and ties through its memory BIOs.
        if let Err(why) = self.attach_executable(pid) {
            self.report(pid, &why);
        }
        for lib in libs {
            let path = PathBuf::from(format!("/proc/{pid}/root{}", lib.path));
            if let Err(why) = self.attach_library(&path, lib.kind) {
                self.report(pid, &format!("{}: {why}", lib.path));
            }
        }
        self.scan_go(pid);
    }

    /// One stderr line per process whose TLS flowtap cannot see.
    fn report(&mut self, pid: u32, why: &str) {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        self.report_as(pid, comm.trim(), why);
    }

    /// [`report`](Self::report) with the process's comm already known.
    fn report_as(&mut self, pid: u32, comm: &str, why: &str) {
        if !self.reported_pids.insert(pid) {
            return;
        }
        self.unhookable += 1;
        eprintln!("flowtap: TLS of process {pid} ({comm}) cannot be captured: {why}");
    }

    /// Attaches to the process's executable when OpenSSL is linked into it.
    fn attach_executable(&mut self, pid: u32) -> Result<(), String> {
        let exe = PathBuf::from(format!("/proc/{pid}/exe"));
        let Ok(meta) = std::fs::metadata(&exe) else {
            return Ok(()); // gone, or a kernel thread
        };
        let key = (meta.dev(), meta.ino());
        let embedded = match self.executables.get(&key) {
            Some(known) => *known,
            None => {
                if self.executables.len() >= EXECUTABLES_MAX {
                    self.executables.clear();
                }
                let found = ssl_library_in(&exe);
                self.executables.insert(key, found);
                found
            }
        };
        match embedded {
            None => Ok(()),
            Some(library) => self
                .attach_library(&exe, Library::Ssl)
                .and_then(|()| self.attach_library(&exe, Library::Crypto))
                .map_err(|why| format!("its executable links {library} statically, but {why}")),
        }
    }

    /// Attaches the probes to one libssl or libcrypto (or an executable with
    /// OpenSSL or BoringSSL inside: it is attached as both), once per file and kind.
    fn attach_library(&mut self, path: &Path, kind: Library) -> Result<(), String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot open it ({e})"))?;
        let key = (meta.dev(), meta.ino(), kind);
        if self.attached.contains(&key) {
            return Ok(());
        }
        let no_symbols = || match kind {
            Library::Ssl => "it has no SSL_read/SSL_write symbols".to_string(),
            Library::Crypto => "it has no BIO_write symbol".to_string(),
        };
        if self.refused.contains(&key) {
            return Err(no_symbols());
        }
        // The SSL_* entry probes label their plaintext by the library that
        // defines them: the cookie is its read code (bpf/tls.bpf.c, ssl_op).
        // OpenSSL and BoringSSL may both be `libssl.so.*`: the symbols tell.
        let cookie = match kind {
            Library::Ssl => match ssl_library_in(path) {
                Some(SslLibrary::Openssl) => ft_syscall::FT_SYS_SSL_READ.0,
                Some(SslLibrary::Boringssl) => ft_syscall::FT_SYS_BORINGSSL_READ.0,
                None => {
                    self.refused.insert(key);
                    return Err(no_symbols());
                }
            },
            Library::Crypto => 0,
        };
        let cookie = u64::from(cookie);
        let progs = &self.skel.progs;
        // (program, function, required, with the return probe). SSL_read and
        // SSL_write must be there; the _ex pair came with OpenSSL 1.1.1. The
        // handshake calls only teach the SSL* -> fd cache. BIO_write, inside an
        // SSL_* call that makes no syscall, names the records a memory BIO got.
        let wanted: &[(&ProgramMut<'_>, &str, bool, bool)] = match kind {
            Library::Ssl => &[
                (&progs.ssl_read_enter, "SSL_read", true, true),
                (&progs.ssl_write_enter, "SSL_write", true, true),
                (&progs.ssl_read_ex_enter, "SSL_read_ex", false, true),
                (&progs.ssl_write_ex_enter, "SSL_write_ex", false, true),
                (&progs.ssl_handshake_enter, "SSL_do_handshake", false, true),
                (&progs.ssl_handshake_enter, "SSL_accept", false, true),
                (&progs.ssl_handshake_enter, "SSL_connect", false, true),
                (&progs.ssl_free_enter, "SSL_free", false, false),
            ],
            Library::Crypto => &[
                (&progs.bio_write_enter, "BIO_write", true, false),
                (&progs.bio_write_ex_enter, "BIO_write_ex", false, false),
            ],
        };
        let mut links = Vec::new();
        for &(prog, func, required, with_exit) in wanted {
            let attach = |retprobe: bool, prog: &ProgramMut<'_>| {
                prog.attach_uprobe_with_opts(
                    -1,
                    path,
                    0,
                    UprobeOpts {
                        retprobe,
                        func_name: Some(func.to_string()),
                        cookie,
                        ..Default::default()
                    },
                )
            };
            let attached = attach(false, prog).and_then(|entry| {
                if !with_exit {
                    return Ok(vec![entry]);
                }
                attach(true, &progs.ssl_exit_probe).map(|exit| vec![entry, exit])
            });
            match attached {
                Ok(pair) => links.extend(pair),
                Err(_) if !required => {}
                Err(_) => {
                    self.refused.insert(key);
                    return Err(format!("it has no {func} symbol to attach to"));
                }
            }
        }
        self.attached.insert(key);
        self.links.extend(links);
        Ok(())
    }
}

/// The inodes of a process's cgroup v2 directory and of those above it (nearest
/// first): what the kernel filters on.
fn cgroup_ids_of(pid: u32) -> Vec<u64> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return Vec::new();
    };
    let Some(rel) = text.lines().find_map(|l| l.strip_prefix("0::")) else {
        return Vec::new();
    };
    let Some(mount) = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .find(|m| std::fs::metadata(format!("{m}{rel}")).is_ok())
    else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    let mut path = rel;
    while !path.is_empty() && path != "/" {
        if let Ok(m) = std::fs::metadata(format!("{mount}{path}")) {
            ids.push(m.ino());
        }
        path = path.rsplit_once('/').map_or("", |(parent, _)| parent);
    }
    ids
}
