//! Fuzz target: HTTP request bodies, parsed as every JSON request the API accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    quorate_http::fuzz_decode_body(data);
});
