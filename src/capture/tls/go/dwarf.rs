//! The struct offsets on the way from a `*tls.Conn` to its fd, from a Go binary's
//! DWARF (present unless it was built with `-w` or stripped).

use std::borrow::Cow;

use gimli::{EndianSlice, LittleEndian};
use object::{Object, ObjectSection};

/// (struct, member) pairs whose offsets are read.
const MEMBERS: [(&str, &str); 5] = [
    ("crypto/tls.Conn", "conn"),
    ("net.TCPConn", "conn"),
    ("net.conn", "fd"),
    ("net.netFD", "pfd"),
    ("internal/poll.FD", "Sysfd"),
];

/// `(conn_off, fd_off, sysfd_off)` as [`super::GoLayout`] wants them, or `None`
/// when the binary has no DWARF or not every member was found.
pub fn layout(file: &object::File<'_>) -> Option<(u32, u32, u32)> {
    let o = offsets(file)?;
    let get = |i: usize| o[i];
    Some((
        get(0)?,
        get(1)?.checked_add(get(2)?)?,
        get(3)?.checked_add(get(4)?)?,
    ))
}

fn offsets(file: &object::File<'_>) -> Option<[Option<u32>; 5]> {
    let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
        Ok(file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or(Cow::Borrowed(&[])))
    };
    let owned = gimli::DwarfSections::load(load).ok()?;
    let dwarf = owned.borrow(|s| EndianSlice::new(s, LittleEndian));
    let mut found = [None; 5];
    let mut units = dwarf.units();
    while let Ok(Some(header)) = units.next() {
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        let mut entries = unit.entries();
        let mut depth = 0isize;
        // The wanted struct being walked, and its depth.
        let mut inside: Option<(&str, isize)> = None;
        while let Ok(Some((delta, entry))) = entries.next_dfs() {
            depth += delta;
            if inside.is_some_and(|(_, d)| depth <= d) {
                inside = None;
            }
            let name = entry
                .attr_value(gimli::DW_AT_name)
                .ok()
                .flatten()
                .and_then(|v| dwarf.attr_string(&unit, v).ok())
                .and_then(|s| std::str::from_utf8(s.slice()).ok());
            match (entry.tag(), inside) {
                (gimli::DW_TAG_structure_type, _) => {
                    inside = name
                        .and_then(|n| MEMBERS.iter().find(|(s, _)| *s == n))
                        .map(|(s, _)| (*s, depth));
                }
                (gimli::DW_TAG_member, Some((strukt, d))) if depth == d + 1 => {
                    let Some(i) = MEMBERS
                        .iter()
                        .position(|(s, m)| *s == strukt && Some(*m) == name)
                    else {
                        continue;
                    };
                    found[i] = entry
                        .attr(gimli::DW_AT_data_member_location)
                        .ok()
                        .flatten()
                        .and_then(|a| a.udata_value())
                        .and_then(|v| u32::try_from(v).ok());
                }
                _ => {}
            }
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    Some(found)
}
