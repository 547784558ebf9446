//! Reading a process's `/proc/PID/maps` for the TLS libraries it has mapped.

/// Which OpenSSL library a file is: libssl (the SSL_* calls) or libcrypto (the
/// BIO calls a memory-BIO stack's records go through).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Library {
    Ssl,
    Crypto,
}

/// A TLS library file a process maps, as its maps line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedLibrary {
    /// `major:minor` in hex, as /proc prints it, and the inode: one file however
    /// many mount namespaces show it.
    pub dev: String,
    pub inode: u64,
    /// The path inside the process's mount namespace.
    pub path: String,
    pub kind: Library,
}

/// Whether a file name is a libssl with the OpenSSL API: OpenSSL's
/// (`libssl.so.3`, `libssl.so.1.1`) or Debian's BoringSSL (`libssl.so.0`), told
/// apart by their symbols (`symbols.rs`). NSS's `libssl3.so` is another library.
pub fn is_openssl_libssl(file_name: &str) -> bool {
    file_name.starts_with("libssl.so")
}

/// Whether a file name is OpenSSL's libcrypto (`libcrypto.so.3`, `.so.1.1`).
pub fn is_openssl_libcrypto(file_name: &str) -> bool {
    file_name.starts_with("libcrypto.so")
}

/// The distinct libssl and libcrypto files in the text of a `/proc/PID/maps`.
pub fn openssl_libraries(maps: &str) -> Vec<MappedLibrary> {
    let mut out: Vec<MappedLibrary> = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_range), Some(_perms), Some(_off), Some(dev), Some(inode)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        // The path is the rest of the line (it may hold spaces); a deleted file says so.
        let rest: Vec<&str> = fields.collect();
        let path = rest.join(" ");
        let Ok(inode) = inode.parse::<u64>() else {
            continue;
        };
        if inode == 0 || path.ends_with(" (deleted)") {
            continue;
        }
        let name = path.rsplit('/').next().unwrap_or("");
        let kind = if is_openssl_libssl(name) {
            Library::Ssl
        } else if is_openssl_libcrypto(name) {
            Library::Crypto
        } else {
            continue;
        };
        if out.iter().any(|l| l.dev == dev && l.inode == inode) {
            continue;
        }
        out.push(MappedLibrary {
            dev: dev.to_string(),
            inode,
            path,
            kind,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0a00000-55d0c0a2a000 r--p 00000000 08:01 1234 /usr/bin/curl
7f1e2c000000-7f1e2c01f000 r--p 00000000 08:01 5555 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f1e2c01f000-7f1e2c07a000 r-xp 0001f000 08:01 5555 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f1e2c100000-7f1e2c11f000 r--p 00000000 08:01 5556 /usr/lib/x86_64-linux-gnu/libcrypto.so.3
7f1e2d000000-7f1e2d001000 r--p 00000000 08:01 6666 /usr/lib/x86_64-linux-gnu/libssl3.so
7f1e2e000000-7f1e2e001000 r--p 00000000 00:2a 7777 /opt/my app/libssl.so.1.1
7f1e2f000000-7f1e2f001000 r--p 00000000 08:01 8888 /tmp/libssl.so.3 (deleted)
7ffd1a000000-7ffd1a021000 rw-p 00000000 00:00 0 [stack]
";

    #[test]
    fn finds_each_libssl_and_libcrypto_once_and_nothing_else() {
        let libs = openssl_libraries(MAPS);
        assert_eq!(
            libs,
            vec![
                MappedLibrary {
                    dev: "08:01".into(),
                    inode: 5555,
                    path: "/usr/lib/x86_64-linux-gnu/libssl.so.3".into(),
                    kind: Library::Ssl,
                },
                MappedLibrary {
                    dev: "08:01".into(),
                    inode: 5556,
                    path: "/usr/lib/x86_64-linux-gnu/libcrypto.so.3".into(),
                    kind: Library::Crypto,
                },
                MappedLibrary {
                    dev: "00:2a".into(),
                    inode: 7777,
                    path: "/opt/my app/libssl.so.1.1".into(),
                    kind: Library::Ssl,
                },
            ]
        );
    }

    #[test]
    fn malformed_lines_are_skipped() {
        assert!(openssl_libraries("garbage\n1 2 3 4 x /libssl.so.3\n").is_empty());
    }
}
