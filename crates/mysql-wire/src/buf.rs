//! Byte-level helpers: a bounds-checked reader over a received payload and the
//! length-encoded writers. Every read returns an error instead of panicking, because
//! every byte it sees came from the client.

use crate::error::WireError;

/// A cursor over one received payload. Each getter checks the remaining length first.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Takes `n` bytes; `what` names the field for the error message.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.data.len() < n {
            return Err(WireError::Malformed { what });
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length-encoded integer. 0xFB (NULL) and 0xFF (ERR marker) are not integers.
    pub(crate) fn lenenc_int(&mut self, what: &'static str) -> Result<u64, WireError> {
        match self.u8(what)? {
            n @ 0..=0xFA => Ok(u64::from(n)),
            0xFC => Ok(u64::from(self.u16(what)?)),
            0xFD => {
                let b = self.take(3, what)?;
                Ok(u64::from(b[0]) | (u64::from(b[1]) << 8) | (u64::from(b[2]) << 16))
            }
            0xFE => self.u64(what),
            _ => Err(WireError::Malformed { what }),
        }
    }

    /// A length-encoded byte string; the length is checked against what is left.
    pub(crate) fn lenenc_bytes(&mut self, what: &'static str) -> Result<&'a [u8], WireError> {
        let len = self.lenenc_int(what)?;
        let len = usize::try_from(len).map_err(|_| WireError::Malformed { what })?;
        self.take(len, what)
    }

    /// Bytes up to (not including) the next NUL, which is consumed.
    pub(crate) fn nul_terminated(&mut self, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self
            .data
            .iter()
            .position(|&b| b == 0)
            .ok_or(WireError::Malformed { what })?;
        let s = &self.data[..end];
        self.data = &self.data[end + 1..];
        Ok(s)
    }

    /// Everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Appends a length-encoded integer.
pub(crate) fn put_lenenc_int(out: &mut Vec<u8>, n: u64) {
    if n < 0xFB {
        out.push(n as u8);
    } else if n <= 0xFFFF {
        out.push(0xFC);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    } else if n <= 0xFF_FFFF {
        out.push(0xFD);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
    } else {
        out.push(0xFE);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// Appends a length-encoded byte string.
pub(crate) fn put_lenenc_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_lenenc_int(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length-encoded integers round-trip at every width boundary.
    #[test]
    fn lenenc_int_round_trips_at_boundaries() {
        for n in [
            0u64,
            250,
            251,
            0xFFFF,
            0x1_0000,
            0xFF_FFFF,
            0x100_0000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_lenenc_int(&mut out, n);
            let mut r = Reader::new(&out);
            assert_eq!(r.lenenc_int("n").unwrap(), n);
            assert!(r.is_empty());
        }
    }

    /// A length prefix larger than the data is an error, not a panic or a short read.
    #[test]
    fn lenenc_bytes_longer_than_payload_is_rejected() {
        let mut r = Reader::new(&[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1]);
        assert!(r.lenenc_bytes("s").is_err());
        let mut r = Reader::new(&[0xFB]);
        assert!(r.lenenc_int("null").is_err());
        let mut r = Reader::new(b"abc");
        assert!(r.nul_terminated("s").is_err());
    }
}
