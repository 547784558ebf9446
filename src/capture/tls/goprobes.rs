//! Attaching bpf/tls.bpf.c's Go probes to the Go executables traced processes
//! run: once per file (device, inode), with the file's layout in `go_layouts`
//! under the index the uprobes carry as their cookie.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use libbpf_rs::{Link, MapCore, MapFlags, ProgramMut, UprobeOpts};

use super::go::{self, GoLayout, GoTls, GoTlsError};
use super::TlsProbes;

/// Entries of the BPF `go_layouts` array.
const MAX_GO_BINARIES: u32 = 256;

/// What is known of the executables looked at.
#[derive(Default)]
pub(super) struct GoBinaries {
    attached: HashSet<(u64, u64)>,
    /// Go executables that cannot be hooked, and why.
    refused: HashMap<(u64, u64), String>,
    /// Executables that are not Go, or use no crypto/tls.
    other: HashSet<(u64, u64)>,
}

impl TlsProbes<'_> {
    /// Looks at the executable a traced process runs for Go's crypto/tls.
    pub(super) fn scan_go(&mut self, pid: u32) {
        // Held open while attaching, and attached through /proc/self/fd: a
        // process that exits meanwhile takes its /proc/PID/exe with it.
        let Ok(mut file) = std::fs::File::open(format!("/proc/{pid}/exe")) else {
            return;
        };
        let Ok(meta) = file.metadata() else {
            return;
        };
        let key = (meta.dev(), meta.ino());
        if self.go.attached.contains(&key) || self.go.other.contains(&key) {
            return;
        }
        if let Some(why) = self.go.refused.get(&key).cloned() {
            self.report(pid, &why);
            return;
        }
        if !go::is_go_elf(&mut file) {
            self.go.other.insert(key);
            return;
        }
        if file.seek(std::io::SeekFrom::Start(0)).is_err() {
            return;
        }
        let mut data = Vec::new();
        let found = file
            .read_to_end(&mut data)
            .map_err(|e| GoTlsError::Unreadable(format!("its executable cannot be read ({e})")))
            .and_then(|_| go::inspect(&data));
        drop(data);
        let exe = format!("/proc/self/fd/{}", file.as_raw_fd());
        let attached = match found {
            Err(GoTlsError::NotGoTls) => {
                self.go.other.insert(key);
                return;
            }
            Err(e) => Err(e.to_string()),
            Ok(tls) => self.attach_go(&exe, &tls),
        };
        match attached {
            Ok(()) => {
                self.go.attached.insert(key);
            }
            Err(why) => {
                let why = format!("Go crypto/tls: {why}");
                self.go.refused.insert(key, why.clone());
                self.report(pid, &why);
            }
        }
    }

    fn attach_go(&mut self, exe: &str, tls: &GoTls) -> Result<(), String> {
        let index = u32::try_from(self.go.attached.len())
            .ok()
            .filter(|i| *i < MAX_GO_BINARIES)
            .ok_or("flowtap has hooked as many Go executables as it can")?;
        let GoLayout {
            conn_off,
            itab_hash,
            fd_off,
            sysfd_off,
        } = tls.layout;
        let mut value = Vec::with_capacity(16);
        for field in [conn_off, itab_hash, fd_off, sysfd_off] {
            value.extend_from_slice(&field.to_ne_bytes());
        }
        self.skel
            .maps
            .go_layouts
            .update(&index.to_ne_bytes(), &value, MapFlags::ANY)
            .map_err(|e| format!("storing its layout: {e}"))?;
        let progs = &self.skel.progs;
        let mut wanted: Vec<(&ProgramMut<'_>, u64)> = vec![
            (&progs.gotls_write_enter, tls.write),
            (&progs.gotls_read_enter, tls.read),
        ];
        wanted.extend(tls.read_rets.iter().map(|r| (&progs.gotls_read_ret, *r)));
        let mut links: Vec<Link> = Vec::with_capacity(wanted.len());
        for (prog, offset) in wanted {
            let offset = usize::try_from(offset).map_err(|_| "an offset past usize")?;
            let link = prog
                .attach_uprobe_with_opts(
                    -1,
                    exe,
                    offset,
                    UprobeOpts {
                        cookie: u64::from(index),
                        ..Default::default()
                    },
                )
                .map_err(|e| format!("attaching a uprobe at {offset:#x}: {e}"))?;
            links.push(link);
        }
        // All or nothing: a Read entry without its returns would only leak entries.
        self.links.extend(links);
        Ok(())
    }

    /// Names, once each, the processes whose Go TLS ran over a conn that is not a
    /// `*net.TCPConn` (the kernel side notes them and captures nothing).
    pub(super) fn report_wrapped_go_conns(&mut self) {
        let map = &self.skel.maps.go_wrapped;
        let mut seen: Vec<(u32, String)> = Vec::new();
        for key in map.keys() {
            let Some(pid) = key.get(..4).and_then(|b| b.try_into().ok()) else {
                continue;
            };
            let comm = match map.lookup(&key, MapFlags::ANY) {
                Ok(Some(v)) => comm_of(v.get(8..).unwrap_or_default()),
                _ => String::new(),
            };
            // Gone from the map once named: a pid reused later is a new process.
            let _ = map.delete(&key);
            seen.push((u32::from_ne_bytes(pid), comm));
        }
        for (pid, comm) in seen {
            self.report_as(
                pid,
                &comm,
                "Go crypto/tls over a conn that is not a *net.TCPConn (a wrapper or \
                 a pipe), whose socket flowtap cannot tell; those exchanges are not captured",
            );
        }
    }
}

/// A kernel comm: up to 16 bytes, NUL-padded.
fn comm_of(raw: &[u8]) -> String {
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}
