//! A deterministic stand-in for the coverage-guided fuzzer (see FUZZING.md): mutated
//! client byte streams through `fuzz_decode`, which runs the packet reader, the handshake
//! and command decoders, COM_STMT_EXECUTE parameter decoding and a whole server session.
//! The property is "no input panics"; a panic fails the test and prints the input.
//!
//! `FUZZ_SMOKE_ITERATIONS` overrides the number of inputs (default 300 000).

use quorate_mysql_wire::fuzz_decode;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
    let l = (payload.len() as u32).to_le_bytes();
    let mut v = vec![l[0], l[1], l[2], seq];
    v.extend_from_slice(payload);
    v
}

/// A session input that `fuzz_decode` prefixes with a valid login (first byte even).
fn after_login(commands: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![0u8];
    for c in commands {
        v.extend(frame(0, c));
    }
    v
}

fn execute(stmt_id: u32, bitmap: &[u8], types: &[(u8, u8)], values: &[u8]) -> Vec<u8> {
    let mut p = vec![0x17];
    p.extend_from_slice(&stmt_id.to_le_bytes());
    p.push(0);
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(bitmap);
    if types.is_empty() {
        p.push(0);
    } else {
        p.push(1);
        for &(t, f) in types {
            p.extend_from_slice(&[t, f]);
        }
    }
    p.extend_from_slice(values);
    p
}

fn long_data(stmt_id: u32, param: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x18];
    p.extend_from_slice(&stmt_id.to_le_bytes());
    p.extend_from_slice(&param.to_le_bytes());
    p.extend_from_slice(data);
    p
}

fn handshake_response(flags: u32, user: &[u8], auth: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut p = flags.to_le_bytes().to_vec();
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(user);
    p.push(0);
    p.push(auth.len() as u8);
    p.extend_from_slice(auth);
    p.extend_from_slice(rest);
    p
}

/// Valid and nearly valid conversations to mutate from.
fn seeds() -> Vec<Vec<u8>> {
    let mut s = Vec::new();
    // Prepared statement `stmt_id` 1 has (len("SELECT ?, ?, ?") % 6) = 2 parameters in the fuzz
    // backend; ids count up from 1.
    let all_types: Vec<(u8, u8)> = [
        0x00u8, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0f,
        0x10, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
    ]
    .iter()
    .map(|&t| (t, 0))
    .collect();
    s.push(after_login(&[
        b"\x03\x00 select".to_vec(),
        b"\x03\x01\x05ok".to_vec(),
        b"\x03\x02err".to_vec(),
        b"\x03\x03\x07multi".to_vec(),
        vec![0x1b, 1, 0],
        b"\x03\x03\x07multi".to_vec(),
        vec![0x0e],
        vec![0x09],
        b"\x02db".to_vec(),
        b"\x02".to_vec(),
        b"\x04t\0%".to_vec(),
        vec![0x1f],
        vec![0x01],
    ]));
    s.push(after_login(&[
        b"\x16SELECT ?, ?".to_vec(), // 11 bytes -> 5 params
        long_data(1, 0, b"chunk one "),
        long_data(1, 0, b"chunk two"),
        execute(
            1,
            &[0b10],
            &[(0xfc, 0), (0x06, 0), (0x08, 0x80), (0x0c, 0), (0x0b, 0)],
            &[
                0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 11, 0xE8, 0x07, 1, 2, 3, 4, 5,
                0x40, 0x42, 0x0F, 0, 12, 1, 1, 0, 0, 0, 2, 3, 4, 5, 0, 0, 0,
            ],
        ),
        execute(1, &[0b11111], &[], &[]),
        long_data(1, 9, b"bad param"),
        execute(1, &[0b11111], &[], &[]),
        vec![0x1a, 1, 0, 0, 0],
        vec![0x19, 1, 0, 0, 0],
        execute(1, &[0], &[], &[]),
    ]));
    s.push(after_login(&[
        b"\x16SELECT ?".to_vec(), // 8 bytes -> 2 params, 27 columns
        execute(1, &[0], &all_types[..2], &[0x00, 0x7F]),
        execute(2, &[0], &[(0x12, 0)], &[]),
        execute(
            1,
            &[0],
            &[(0x0d, 0x80), (0x04, 0)],
            &[0xD0, 0x07, 0, 0, 0xC0, 0x3F],
        ),
        vec![0x1c, 1, 0, 0, 0, 1, 0, 0, 0],
        vec![0x99],
    ]));
    // Every type in a statement with many parameters (the fuzz driver's own statements).
    let mut big = b"\x16SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?".to_vec();
    big.truncate(12); // 11 bytes of SQL -> 5 params
    s.push(after_login(&[
        big,
        execute(
            1,
            &[0],
            &all_types[10..15],
            &[
                4, 0xE8, 0x07, 1, 1, 8, 0, 1, 0, 0, 0, 1, 2, 3, 7, 0xE8, 0x07, 1, 1, 1, 1, 1, 0xD0,
                0x07, 2, b'h', b'i',
            ],
        ),
    ]));
    // Raw streams: a handshake response the driver does not supply (first byte odd).
    let hs = handshake_response(
        0x01FF_FFFF & !0x800,
        b"fuzz",
        &[],
        b"db\0mysql_native_password\0\x06\x02_a\x02v1",
    );
    let mut raw = frame(1, &hs);
    raw[0] |= 1;
    s.push(raw);
    let hs = handshake_response(0x000F_A685, b"root", &[1; 20], b"caching_sha2_password\0");
    let mut raw = frame(1, &hs);
    raw.extend(frame(3, &[0; 20]));
    raw[0] |= 1;
    s.push(raw);
    // Decoder pass: the same packets without a login, and multi-chunk framing.
    let mut chunked = vec![0xFF, 0xFF, 0xFF, 0];
    chunked.extend(std::iter::repeat_n(0x03, 64));
    s.push(chunked);
    s
}

const INTERESTING: [u8; 12] = [
    0, 1, 0x7F, 0x80, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF, 0x11, 0x12,
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            3 => input.truncate(rng.below(len + 1)),
            4 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                input.splice(i..i, bytes);
            }
            5 if len > 1 => {
                let a = rng.below(len);
                let b = a + rng.below(len - a);
                let copy = input[a..b].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, copy);
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    input.extend_from_slice(&other[a..]);
                }
            }
        }
    }
}

/// No input panics: seeds, then mutations of seeds (and of earlier mutants), then pure
/// random bytes. Every input is run through both passes of `fuzz_decode`.
#[test]
fn fuzz_decode_never_panics() {
    let iterations: usize = std::env::var("FUZZ_SMOKE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let seeds = seeds();
    for s in &seeds {
        fuzz_decode(s);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut pool: Vec<Vec<u8>> = seeds.clone();
    for i in 0..iterations {
        let mut input = if i % 10 == 9 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            pool[rng.below(pool.len())].clone()
        };
        mutate(&mut rng, &mut input, &seeds);
        let result = std::panic::catch_unwind(|| fuzz_decode(&input));
        assert!(result.is_ok(), "fuzz_decode panicked on input {input:02x?}");
        // Keep a bounded pool of mutants so mutations compound.
        if pool.len() < 256 {
            pool.push(input);
        } else if i % 7 == 0 {
            let slot = rng.below(pool.len());
            pool[slot] = input;
        }
    }
}
