//! Small readers of /proc that capture needs: the process tree below a pid.

use std::collections::{HashMap, HashSet};

/// `roots` and every process below them, as /proc shows the tree now.
pub fn descendants_of(roots: &[u32]) -> Vec<u32> {
    let mut links = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            // A process may exit while we look; skip it.
            if let Some(ppid) = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|stat| parent_from_stat(&stat))
            {
                links.push((pid, ppid));
            }
        }
    }
    descendants(roots, &links)
}

/// The parent pid from the text of /proc/<pid>/stat. The command name may hold
/// spaces and parentheses, so fields are counted from its last ')'.
pub fn parent_from_stat(stat: &str) -> Option<u32> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(1)?.parse().ok()
}

/// `roots` and all their descendants, given (pid, parent) pairs.
pub fn descendants(roots: &[u32], links: &[(u32, u32)]) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for &(pid, ppid) in links {
        children.entry(ppid).or_default().push(pid);
    }
    let mut seen: HashSet<u32> = HashSet::new();
    let mut stack: Vec<u32> = roots.to_vec();
    let mut out = Vec::new();
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        out.push(pid);
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids);
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_survives_odd_command_names() {
        assert_eq!(parent_from_stat("42 (python3) S 7 42 42 0"), Some(7));
        assert_eq!(parent_from_stat("42 (a) b (c)) R 99 1 1"), Some(99));
        assert_eq!(parent_from_stat("garbage"), None);
        assert_eq!(parent_from_stat("1 (x)"), None);
    }

    #[test]
    fn finds_the_whole_subtree_and_nothing_else() {
        let links = [(2, 1), (3, 2), (4, 3), (5, 1), (6, 5), (10, 2)];
        assert_eq!(descendants(&[2], &links), vec![2, 3, 4, 10]);
        assert_eq!(descendants(&[4, 6], &links), vec![4, 6]);
        assert_eq!(
            descendants(&[99], &links),
            vec![99],
            "a root with no children is itself"
        );
        // A cycle (a pid reused as its own ancestor's parent) does not loop forever.
        assert_eq!(descendants(&[1], &[(1, 2), (2, 1)]), vec![1, 2]);
    }

    #[test]
    fn reads_this_process_tree() {
        let me = std::process::id();
        assert!(descendants_of(&[me]).contains(&me));
    }
}
