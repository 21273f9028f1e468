//! Fuzz target: client bytes through the packet reader, the handshake and command
//! decoders, COM_STMT_EXECUTE parameter decoding, and a whole server session.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    quorate_mysql_wire::fuzz_decode(data);
});
