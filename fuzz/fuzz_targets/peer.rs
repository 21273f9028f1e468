//! Fuzz target: bytes from a peer — transport frames (size-bounded), handshake messages,
//! and every peer message body (Raft RPCs, snapshot chunks, forwarded requests, sessions).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    quorate_transport::fuzz_decode(data);
    quorate_node::fuzz_decode_peer_message(data);
});
