//! Ring-buffer records come from the kernel: any bytes decode to an event or a
//! counted error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|record: &[u8]| {
    let _ = flowtap::capture::decode(record);
});
