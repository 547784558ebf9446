//! Go's crypto/tls, read from an executable's bytes: where `(*Conn).Read`, its RET
//! instructions and `(*Conn).Write` are (file offsets for uprobes), and where the
//! socket's fd lies under a `*tls.Conn`. No I/O: the caller reads the file.

use object::{Object, ObjectSection, ObjectSymbol};
use thiserror::Error;

mod dwarf;
mod pclntab;

const READ: &str = "crypto/tls.(*Conn).Read";
const WRITE: &str = "crypto/tls.(*Conn).Write";
/// The itab the compiler emits for a `*net.TCPConn` held as a `net.Conn`
/// (named `go.itab.` up to Go 1.19, `go:itab.` since 1.20).
const TCPCONN_ITABS: [&str; 2] = [
    "go:itab.*net.TCPConn,net.Conn",
    "go.itab.*net.TCPConn,net.Conn",
];
/// itab: inter *interfacetype, _type *_type, hash uint32 (as bpf/tls.bpf.c reads it).
const ITAB_HASH_OFF: u64 = 16;

/// The `*net.TCPConn` type hash, per Go release, for binaries without a symbol
/// table. The hash is the compiler's, of the type's name, so one release gives
/// every binary it builds the same value; each was read from an unstripped binary.
const TCPCONN_HASHES: [(&str, u32); 1] = [("go1.19", 0xbc02_0cb9)];

/// Where the fd is under a `*tls.Conn` (bpf/tls.bpf.c's `struct go_layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoLayout {
    /// `tls.Conn.conn`, a `net.Conn` interface.
    pub conn_off: u32,
    /// The `*net.TCPConn` type's hash as its itab holds it.
    pub itab_hash: u32,
    /// `net.conn.fd` (`net.TCPConn` embeds `net.conn`).
    pub fd_off: u32,
    /// `netFD.pfd` plus `poll.FD.Sysfd`.
    pub sysfd_off: u32,
}

/// The offsets used where the binary has no DWARF: unchanged from Go 1.17 (the
/// first with the register ABI) through 1.23.
const LAYOUT_TABLE: (u32, u32, u32) = (0, 0, 16);

/// What flowtap attaches to in one Go executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoTls {
    /// `go1.19.8`, from the build info.
    pub version: String,
    /// File offsets.
    pub read: u64,
    pub read_rets: Vec<u64>,
    pub write: u64,
    pub layout: GoLayout,
    /// Whether the struct offsets came from DWARF or from [`LAYOUT_TABLE`].
    pub from_dwarf: bool,
}

/// Why an executable's Go TLS is not hooked.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum GoTlsError {
    /// Not a Go executable, or one without crypto/tls: nothing to say.
    #[error("not a Go program using crypto/tls")]
    NotGoTls,
    #[error("its Go release ({0}) is older than Go 1.18, the first whose build info and register ABI flowtap reads")]
    OldAbi(String),
    #[error("flowtap reads Go's registers on x86-64 only")]
    Arch,
    #[error("{0}")]
    Unreadable(String),
    #[error(
        "it has no symbol table and flowtap knows no *net.TCPConn type hash for {0}, \
         so a conn's type cannot be checked"
    )]
    UnknownTypeHash(String),
}

/// Whether an ELF file has Go's `.go.buildinfo` section, from its section
/// headers alone: the cheap look at every executable a traced process runs
/// before any is read whole.
pub fn is_go_elf<R: std::io::Read + std::io::Seek>(r: &mut R) -> bool {
    use std::io::SeekFrom;
    /// Bounds on what is read: far past any real section table.
    const MAX_TABLE: u64 = 256 * 1024;
    let mut at = |off: u64, len: u64| -> Option<Vec<u8>> {
        if len > MAX_TABLE {
            return None;
        }
        r.seek(SeekFrom::Start(off)).ok()?;
        let mut buf = vec![0; usize::try_from(len).ok()?];
        r.read_exact(&mut buf).ok()?;
        Some(buf)
    };
    let mut look = || -> Option<bool> {
        let header = at(0, 64)?;
        // 64-bit little-endian ELF only (what the probes read).
        if header.get(..6)? != b"\x7fELF\x02\x01" {
            return Some(false);
        }
        let u16_at =
            |b: &[u8], i: usize| Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?));
        let u64_at =
            |b: &[u8], i: usize| Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?));
        let shoff = u64_at(&header, 0x28)?;
        let shentsize = u64::from(u16_at(&header, 0x3a)?);
        let shnum = u64::from(u16_at(&header, 0x3c)?);
        let shstrndx = u64::from(u16_at(&header, 0x3e)?);
        if shentsize < 64 || shstrndx >= shnum {
            return Some(false);
        }
        let table = at(shoff, shentsize.checked_mul(shnum)?)?;
        let entry = |i: u64| table.get(usize::try_from(i * shentsize).ok()?..);
        let names_header = entry(shstrndx)?;
        let names = at(u64_at(names_header, 0x18)?, u64_at(names_header, 0x20)?)?;
        Some((0..shnum).any(|i| {
            entry(i)
                .and_then(|e| e.get(..4)?.try_into().ok())
                .map(u32::from_le_bytes)
                .and_then(|n| names.get(usize::try_from(n).ok()?..))
                .is_some_and(|name| name.starts_with(b".go.buildinfo\0"))
        }))
    };
    look().unwrap_or(false)
}

/// Looks for crypto/tls in a Go executable's bytes.
pub fn inspect(data: &[u8]) -> Result<GoTls, GoTlsError> {
    let file = object::File::parse(data).map_err(|_| GoTlsError::NotGoTls)?;
    let Some(version) = go_version(&file) else {
        return Err(GoTlsError::NotGoTls);
    };
    if file.architecture() != object::Architecture::X86_64 {
        return Err(GoTlsError::Arch);
    }
    if !register_abi(&version) {
        return Err(GoTlsError::OldAbi(version));
    }
    let funcs = functions(&file)?;
    let (Some(read), Some(write)) = (funcs.read, funcs.write) else {
        return Err(GoTlsError::NotGoTls);
    };
    let itab_hash = match symbol_address(&file, &TCPCONN_ITABS) {
        Some(itab) => read_u32(&file, data, itab + ITAB_HASH_OFF).ok_or_else(|| {
            GoTlsError::Unreadable("its *net.TCPConn itab lies outside the file".into())
        })?,
        None => TCPCONN_HASHES
            .iter()
            .find(|(release, _)| release_of(&version) == *release)
            .map(|(_, h)| *h)
            .ok_or_else(|| GoTlsError::UnknownTypeHash(version.clone()))?,
    };
    let (layout, from_dwarf) = match dwarf::layout(&file) {
        Some((conn_off, fd_off, sysfd_off)) => ((conn_off, fd_off, sysfd_off), true),
        None => (LAYOUT_TABLE, false),
    };
    let read_code = code(&file, data, read)?;
    let read_rets = rets(read_code.bytes, read.address)
        .into_iter()
        .map(|r| read_code.offset + r)
        .collect::<Vec<_>>();
    if read_rets.is_empty() {
        return Err(GoTlsError::Unreadable(format!("{READ} has no RET")));
    }
    let write_code = code(&file, data, write)?;
    Ok(GoTls {
        version,
        read: read_code.offset,
        read_rets,
        write: write_code.offset,
        layout: GoLayout {
            conn_off: layout.0,
            itab_hash,
            fd_off: layout.1,
            sysfd_off: layout.2,
        },
        from_dwarf,
    })
}

/// A function's virtual address and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Func {
    address: u64,
    size: u64,
}

struct Funcs {
    read: Option<Func>,
    write: Option<Func>,
}

/// From the symbol table, else (a stripped binary) from .gopclntab.
fn functions(file: &object::File<'_>) -> Result<Funcs, GoTlsError> {
    let mut funcs = Funcs {
        read: None,
        write: None,
    };
    for sym in file.symbols() {
        let slot = match sym.name() {
            Ok(READ) => &mut funcs.read,
            Ok(WRITE) => &mut funcs.write,
            _ => continue,
        };
        *slot = Some(Func {
            address: sym.address(),
            size: sym.size(),
        });
    }
    if funcs.read.is_some() && funcs.write.is_some() {
        return Ok(funcs);
    }
    let Some(section) = file.section_by_name(".gopclntab") else {
        return Ok(funcs);
    };
    let table = section
        .data()
        .map_err(|e| GoTlsError::Unreadable(format!("its .gopclntab: {e}")))?;
    let found = pclntab::find(table, &[READ, WRITE]).map_err(GoTlsError::Unreadable)?;
    let func = |i: usize| found[i].map(|(address, size)| Func { address, size });
    Ok(Funcs {
        read: func(0),
        write: func(1),
    })
}

fn symbol_address(file: &object::File<'_>, names: &[&str]) -> Option<u64> {
    file.symbols()
        .find(|s| s.name().is_ok_and(|n| names.contains(&n)))
        .map(|s| s.address())
}

/// A function's bytes and where they start in the file.
struct Code<'a> {
    bytes: &'a [u8],
    offset: u64,
}

fn code<'a>(file: &object::File<'_>, data: &'a [u8], f: Func) -> Result<Code<'a>, GoTlsError> {
    let offset = file_offset(file, f.address).ok_or_else(|| {
        GoTlsError::Unreadable(format!(
            "a crypto/tls function at {:#x} is outside the file",
            f.address
        ))
    })?;
    let start = usize::try_from(offset).ok();
    let end = usize::try_from(f.size)
        .ok()
        .zip(start)
        .and_then(|(size, start)| start.checked_add(size));
    let bytes = start
        .zip(end)
        .and_then(|(s, e)| data.get(s..e))
        .ok_or_else(|| GoTlsError::Unreadable("a crypto/tls function runs past the file".into()))?;
    Ok(Code { bytes, offset })
}

/// The file offset of a virtual address, through the section holding it.
fn file_offset(file: &object::File<'_>, address: u64) -> Option<u64> {
    file.sections().find_map(|s| {
        let (off, size) = s.file_range()?;
        let delta = address.checked_sub(s.address())?;
        (delta < size && delta < s.size()).then(|| off + delta)
    })
}

fn read_u32(file: &object::File<'_>, data: &[u8], address: u64) -> Option<u32> {
    let off = usize::try_from(file_offset(file, address)?).ok()?;
    let bytes = data.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Offsets, from the function's start, of its RET instructions.
fn rets(code: &[u8], address: u64) -> Vec<u64> {
    use iced_x86::{Decoder, DecoderOptions, Mnemonic};
    let mut decoder = Decoder::with_ip(64, code, address, DecoderOptions::NONE);
    let mut out = Vec::new();
    for instr in &mut decoder {
        if instr.mnemonic() == Mnemonic::Ret {
            out.push(instr.ip() - address);
        }
    }
    out
}

/// The Go release that built the file (`go1.19.8`), from .go.buildinfo.
fn go_version(file: &object::File<'_>) -> Option<String> {
    let data = file.section_by_name(".go.buildinfo")?.data().ok()?;
    buildinfo_version(data)
}

/// The build info's version string (the Go 1.18+ inline form).
fn buildinfo_version(data: &[u8]) -> Option<String> {
    const MAGIC: &[u8] = b"\xff Go buildinf:";
    if !data.starts_with(MAGIC) {
        return None;
    }
    let flags = *data.get(15)?;
    if flags & 2 == 0 {
        // Before Go 1.18 the version sat behind pointers: older than flowtap reads.
        return Some("older than go1.18".into());
    }
    let rest = data.get(32..)?;
    let (len, used) = uvarint(rest)?;
    let s = rest.get(used..used.checked_add(usize::try_from(len).ok()?)?)?;
    std::str::from_utf8(s).ok().map(str::to_string)
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// `go1.19.8` → `go1.19`.
fn release_of(version: &str) -> &str {
    let mut dots = version.match_indices('.').map(|(i, _)| i);
    match (dots.next(), dots.next()) {
        (Some(_), Some(second)) => &version[..second],
        _ => version,
    }
}

/// Go 1.17 and later pass arguments in registers on amd64 (flowtap reads the
/// release from Go 1.18's build info on).
fn register_abi(version: &str) -> bool {
    let minor = version
        .strip_prefix("go1.")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 17)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_by_release_and_abi() {
        assert_eq!(release_of("go1.19.8"), "go1.19");
        assert_eq!(release_of("go1.21rc2"), "go1.21rc2");
        assert!(register_abi("go1.17"));
        assert!(register_abi("go1.22.1"));
        assert!(register_abi("go1.21rc2"));
        assert!(!register_abi("go1.16.15"));
        assert!(!register_abi("older than go1.18"));
        assert!(!register_abi("devel"));
    }

    #[test]
    fn buildinfo_gives_the_inline_version() {
        let mut info = b"\xff Go buildinf:\x08\x02".to_vec();
        info.resize(32, 0);
        info.push(8);
        info.extend_from_slice(b"go1.19.8");
        assert_eq!(buildinfo_version(&info).as_deref(), Some("go1.19.8"));
        info.truncate(36);
        assert_eq!(buildinfo_version(&info), None, "a cut string is no version");
        assert_eq!(buildinfo_version(b"garbage"), None);
    }

    #[test]
    fn rets_are_found_by_decoding_not_by_byte_value() {
        // mov eax, 0xc3c3c3c3; ret; int3; xor eax, eax; ret
        let code = [0xb8, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xcc, 0x31, 0xc0, 0xc3];
        assert_eq!(rets(&code, 0x40_0000), vec![5, 9]);
    }

    /// Builds tests/programs/go/src/gotls with the machine's Go, with `ldflags`.
    fn build_gotls(dir: &std::path::Path, name: &str, ldflags: &str) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = dir.join(name);
        let status = std::process::Command::new("go")
            .args(["build", "-ldflags", ldflags, "-o"])
            .arg(&out)
            .arg("gotls")
            .current_dir(dir)
            .env("GO111MODULE", "off")
            .env("CGO_ENABLED", "0")
            .env("GOCACHE", "/tmp/flowtap-gocache")
            .env("GOPATH", root.join("tests/programs/go"))
            .status()
            .expect("run go build");
        assert!(status.success(), "go build gotls");
        std::fs::read(out).expect("read the Go binary")
    }

    #[test]
    fn a_go_binary_is_read_from_dwarf_and_stripped_from_pclntab_alike() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = build_gotls(dir.path(), "full", "");
        assert!(is_go_elf(&mut std::io::Cursor::new(&bytes)));
        let full = inspect(&bytes).expect("hookable");
        assert!(full.from_dwarf, "offsets from DWARF: {full:?}");
        assert_eq!(
            (
                full.layout.conn_off,
                full.layout.fd_off,
                full.layout.sysfd_off
            ),
            LAYOUT_TABLE,
            "the table agrees with this Go's DWARF"
        );
        assert!(!full.read_rets.is_empty());
        assert!(full.read_rets.iter().all(|r| *r > full.read));
        let stripped = inspect(&build_gotls(dir.path(), "stripped", "-s -w")).unwrap_or_else(|e| {
            panic!(
                "stripped {}: {e} (add its *net.TCPConn hash to TCPCONN_HASHES)",
                full.version
            )
        });
        assert!(!stripped.from_dwarf);
        assert_eq!(
            GoTls {
                from_dwarf: true,
                ..stripped
            },
            full,
            "the symbol table and .gopclntab, DWARF and the tables, say the same"
        );
    }

    #[test]
    fn garbage_is_not_go() {
        assert_eq!(inspect(b"not an elf"), Err(GoTlsError::NotGoTls));
        let curl = std::fs::read("/usr/bin/curl").expect("curl is installed");
        assert!(!is_go_elf(&mut std::io::Cursor::new(&curl)), "curl is C");
        for len in [0, 5, 64, 200, 4096] {
            let cut = &curl[..len.min(curl.len())];
            assert!(!is_go_elf(&mut std::io::Cursor::new(cut)), "cut at {len}");
        }
    }
}
