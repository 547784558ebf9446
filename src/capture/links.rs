//! Attaching a loaded object's programs as links the capture holds in one
//! list, and detaching them all at once at the end.

use std::sync::Mutex;

use libbpf_rs::{Link, Object};

/// Threads that detach links side by side.
const DETACHERS: usize = 32;

/// Every program the object loaded, attached as its section says: what a
/// skeleton's `attach` does, but as a list. Uprobe sections name no binary;
/// those programs are attached per library, elsewhere.
pub(super) fn attach_all(object: &Object) -> libbpf_rs::Result<Vec<Link>> {
    object
        .progs_mut()
        .filter(|prog| prog.autoload())
        .filter(|prog| {
            let section = prog.section().to_string_lossy();
            !(section.starts_with("uprobe") || section.starts_with("uretprobe"))
        })
        .map(|prog| prog.attach())
        .collect()
}

/// Detaches `links`, several at a time. Each detach waits in the kernel for
/// RCU grace periods, tens of milliseconds a link, and one after another a
/// capture's 120 links took about 10 s to go (`flowtap capture` exited that
/// long after its summary). Waits that overlap end together, though the kernel
/// still takes one uprobe or tracepoint event at a time.
pub(super) fn detach_all(links: Vec<Link>) {
    let threads = links.len().min(DETACHERS);
    let links = Mutex::new(links);
    let next = || links.lock().ok().and_then(|mut l| l.pop());
    std::thread::scope(|s| {
        for _ in 0..threads {
            let spawned = std::thread::Builder::new().spawn_scoped(s, || {
                while let Some(link) = next() {
                    drop(link);
                }
            });
            // Without a thread, the ones there are (or this one, after the
            // scope) detach the rest.
            if spawned.is_err() {
                break;
            }
        }
    });
    // Whatever no thread took: one by one.
    while let Some(link) = next() {
        drop(link);
    }
}
