//! Which implementation of the OpenSSL API an ELF file defines: a libssl, or an
//! executable with OpenSSL or BoringSSL linked into it. Its own
//! `.symtab`/`.dynsym` define `SSL_read` and `SSL_write`; a libssl an executable
//! merely imports (an undefined symbol) is found through its maps instead.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;
use object::{Object, ObjectSymbol};

/// Symbols that BoringSSL defines and OpenSSL does not.
const BORINGSSL_ONLY: [&str; 3] = [
    "BORINGSSL_self_test",
    "CRYPTO_BUFFER_new",
    "SSL_CTX_set_strict_cipher_list",
];

/// Which library defines the OpenSSL API in a file. Debian's BoringSSL is also
/// named `libssl.so.0`: the file name alone does not tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslLibrary {
    Openssl,
    Boringssl,
}

impl std::fmt::Display for SslLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SslLibrary::Openssl => "OpenSSL",
            SslLibrary::Boringssl => "BoringSSL",
        })
    }
}

/// The TLS library the ELF file at `path` defines, if any. Touches only the
/// headers and symbol tables, not the whole file (an executable may be large).
///
/// The file is mapped, not read: Node's symbol tables alone are some 17 MiB, and
/// read into the heap they stayed in flowtap's RSS after being freed (glibc keeps
/// a large freed heap); a mapping's pages go with it.
pub fn ssl_library_in(path: &Path) -> Option<SslLibrary> {
    let file = File::open(path).ok()?;
    // SAFETY: a private read-only mapping that lives only for this call. Only a
    // file truncated in place meanwhile could fault it, as that would every
    // process running it; libraries and executables are replaced by rename,
    // which leaves this inode whole.
    let map = unsafe { Mmap::map(&file) }.ok()?;
    let elf = object::File::parse(&*map).ok()?;
    let (mut read, mut write, mut boring) = (false, false, false);
    for sym in elf.symbols().chain(elf.dynamic_symbols()) {
        if sym.is_undefined() || sym.address() == 0 {
            continue;
        }
        match sym.name() {
            Ok("SSL_read") => read = true,
            Ok("SSL_write") => write = true,
            Ok(name) if BORINGSSL_ONLY.contains(&name) => boring = true,
            _ => {}
        }
    }
    match (read && write, boring) {
        (false, _) => None,
        (true, false) => Some(SslLibrary::Openssl),
        (true, true) => Some(SslLibrary::Boringssl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_only_imports_libssl_has_none_inside() {
        // The test binary itself links no TLS library.
        let me = std::env::current_exe().expect("current exe");
        assert_eq!(ssl_library_in(&me), None);
    }

    #[test]
    fn libssl_itself_defines_the_calls() {
        let lib = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]
            .iter()
            .map(|d| Path::new(d).join("libssl.so.3"))
            .find(|p| p.exists())
            .expect("libssl.so.3 is installed (curl needs it)");
        assert_eq!(ssl_library_in(&lib), Some(SslLibrary::Openssl));
    }

    #[test]
    #[ignore = "needs android-libboringssl; run via scripts/test.sh"]
    fn debians_boringssl_is_told_from_openssl_by_its_symbols() {
        let lib = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]
            .iter()
            .map(|d| Path::new(d).join("android/libssl.so.0"))
            .find(|p| p.exists())
            .expect("android-libboringssl is installed (scripts/setup.sh)");
        assert_eq!(ssl_library_in(&lib), Some(SslLibrary::Boringssl));
    }

    #[test]
    fn not_an_elf_file_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x");
        std::fs::write(&path, b"#!/bin/sh\necho hi\n").expect("write");
        assert_eq!(ssl_library_in(&path), None);
        assert_eq!(ssl_library_in(&dir.path().join("absent")), None);
    }
}
