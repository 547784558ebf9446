//! A small, bounded reader of Go's .gopclntab (the Go 1.18+ layout, which every
//! register-ABI binary has): function names to addresses, for stripped binaries.

/// Go 1.18–1.19 and Go 1.20+ (the layout is the same; the magic tells them apart).
const MAGICS: [u32; 2] = [0xffff_fff0, 0xffff_fff1];

/// The (address, size) of each wanted function, in the order asked.
pub fn find(table: &[u8], wanted: &[&str]) -> Result<Vec<Option<(u64, u64)>>, String> {
    let bad = |what: &str| format!("its .gopclntab is unreadable ({what})");
    let magic = u32_at(table, 0).ok_or_else(|| bad("short header"))?;
    if !MAGICS.contains(&magic) {
        return Err(bad("not the Go 1.18+ layout"));
    }
    if table.get(7) != Some(&8) {
        return Err(bad("pointer size not 8"));
    }
    let word = |i: usize| u64_at(table, 8 + 8 * i).ok_or_else(|| bad("short header"));
    let nfunc = usize::try_from(word(0)?).map_err(|_| bad("function count"))?;
    let text_start = word(2)?;
    let funcnames = usize::try_from(word(3)?).map_err(|_| bad("name table"))?;
    let functab = usize::try_from(word(7)?).map_err(|_| bad("function table"))?;
    let entry = |i: usize| -> Option<(u32, u32)> {
        let at = functab.checked_add(i.checked_mul(8)?)?;
        Some((u32_at(table, at)?, u32_at(table, at.checked_add(4)?)?))
    };
    let mut found = vec![None; wanted.len()];
    for i in 0..nfunc {
        let (entry_off, func_off) = entry(i).ok_or_else(|| bad("function table cut short"))?;
        let Some((next_off, _)) = entry(i + 1) else {
            return Err(bad("function table cut short"));
        };
        let name_off = functab
            .checked_add(func_off as usize)
            .and_then(|f| f.checked_add(4))
            .and_then(|at| u32_at(table, at))
            .ok_or_else(|| bad("function record outside the table"))?;
        let name = funcnames
            .checked_add(name_off as usize)
            .and_then(|start| table.get(start..))
            .and_then(|rest| rest.split(|b| *b == 0).next())
            .ok_or_else(|| bad("name outside the table"))?;
        if let Some(slot) = wanted.iter().position(|w| w.as_bytes() == name) {
            let size = u64::from(next_off.saturating_sub(entry_off));
            found[slot] = Some((text_start + u64::from(entry_off), size));
        }
    }
    Ok(found)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of two functions, "a.F" at text+0x10 and "b.G" at text+0x40,
    /// ending at text+0x70.
    fn table() -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&0xffff_fff1u32.to_le_bytes());
        t.extend_from_slice(&[0, 0, 1, 8]);
        let names = 72u64;
        let functab = names + 8;
        for w in [2u64, 0, 0x40_1000, names, 0, 0, 0, functab] {
            t.extend_from_slice(&w.to_le_bytes());
        }
        t.extend_from_slice(b"a.F\0b.G\0");
        // functab: (entry, funcoff) x3, then two _func records (entry, nameoff).
        for (e, f) in [(0x10u32, 24u32), (0x40, 32), (0x70, 0)] {
            t.extend_from_slice(&e.to_le_bytes());
            t.extend_from_slice(&f.to_le_bytes());
        }
        for (e, n) in [(0x10u32, 0u32), (0x40, 4)] {
            t.extend_from_slice(&e.to_le_bytes());
            t.extend_from_slice(&n.to_le_bytes());
        }
        t
    }

    #[test]
    fn finds_functions_by_name_with_their_sizes() {
        let found = find(&table(), &["b.G", "a.F", "c.H"]).expect("readable");
        assert_eq!(
            found,
            vec![Some((0x40_1040, 0x30)), Some((0x40_1010, 0x30)), None]
        );
    }

    #[test]
    fn every_cut_of_the_table_is_an_error_or_a_miss_never_a_panic() {
        let t = table();
        for len in 0..t.len() {
            if let Ok(found) = find(&t[..len], &["b.G"]) {
                assert!(found[0].is_none() || len > 100, "cut at {len}: {found:?}");
            }
        }
        assert!(find(b"\xf1\xff\xff\xff\0\0\x01\x04", &["a.F"]).is_err());
    }
}
