//! A trace file is user input: any bytes read to events or line-numbered errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|trace: &[u8]| {
    for event in flowtap::trace::TraceReader::new(trace) {
        let _ = event;
    }
});
