//! Whether an executable has OpenSSL (or BoringSSL) linked into it: its own
//! `.symtab`/`.dynsym` define `SSL_read` and `SSL_write`. A libssl it merely
//! imports (an undefined symbol) is found through its maps instead.

use std::fs::File;
use std::path::Path;

use object::read::ReadCache;
use object::{Object, ObjectSymbol};

/// Symbols that BoringSSL defines and OpenSSL does not.
const BORINGSSL_ONLY: [&str; 3] = [
    "BORINGSSL_self_test",
    "CRYPTO_BUFFER_new",
    "SSL_CTX_set_strict_cipher_list",
];

/// Which TLS library an executable carries inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedded {
    Openssl,
    Boringssl,
}

/// The TLS library linked into the ELF file at `path`, if any. Reads only the
/// headers and symbol tables, not the whole file (an executable may be large).
pub fn embedded_tls(path: &Path) -> Option<Embedded> {
    let file = File::open(path).ok()?;
    let cache = ReadCache::new(file);
    let elf = object::File::parse(&cache).ok()?;
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
        (true, false) => Some(Embedded::Openssl),
        (true, true) => Some(Embedded::Boringssl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_only_imports_libssl_has_none_inside() {
        // The test binary itself links no TLS library.
        let me = std::env::current_exe().expect("current exe");
        assert_eq!(embedded_tls(&me), None);
    }

    #[test]
    fn libssl_itself_defines_the_calls() {
        let lib = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]
            .iter()
            .map(|d| Path::new(d).join("libssl.so.3"))
            .find(|p| p.exists())
            .expect("libssl.so.3 is installed (curl needs it)");
        assert_eq!(embedded_tls(&lib), Some(Embedded::Openssl));
    }

    #[test]
    fn not_an_elf_file_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x");
        std::fs::write(&path, b"#!/bin/sh\necho hi\n").expect("write");
        assert_eq!(embedded_tls(&path), None);
        assert_eq!(embedded_tls(&dir.path().join("absent")), None);
    }
}
