//! Wire framing of the peer protocol.
//!
//! Every frame: `len: u32` (bytes after this field), `kind: u8`, `id: u64`, `method: u16`,
//! then the body. `len` is checked against the configured maximum before anything is
//! allocated, so a hostile peer cannot make us buffer more than that.
//!
//! A message whose body is larger than [`PART_BYTES`] is sent in pieces: `Part` frames
//! carrying its id, then the message's own frame with the last piece. Between two pieces
//! the writer sends every small frame that is waiting (keepalives, heartbeats, other
//! replies), so a 20 MiB transaction being replicated never holds a keepalive back for
//! longer than one piece takes on the wire. The reader ([`Assembler`]) joins the pieces and
//! bounds the whole message, not only each frame.

use std::collections::VecDeque;
use std::io;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

pub(crate) const HEADER_BYTES: usize = 1 + 8 + 2;

/// Largest body sent in one frame; larger messages go in pieces of this size.
pub(crate) const PART_BYTES: usize = 256 << 10;

/// Small frames gathered into one write before it is flushed.
const BATCH_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Request = 1,
    ResponseOk = 2,
    ResponseErr = 3,
    Ping = 4,
    Pong = 5,
    /// A piece of a larger message; the message's own frame (same id) ends it.
    Part = 6,
    Hello = 10,
    Challenge = 11,
    Proof = 12,
    Welcome = 13,
    Reject = 14,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Kind::Request,
            2 => Kind::ResponseOk,
            3 => Kind::ResponseErr,
            4 => Kind::Ping,
            5 => Kind::Pong,
            6 => Kind::Part,
            10 => Kind::Hello,
            11 => Kind::Challenge,
            12 => Kind::Proof,
            13 => Kind::Welcome,
            14 => Kind::Reject,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub kind: Kind,
    pub id: u64,
    pub method: u16,
    /// Shared, so that a request sent again on another path is not copied again.
    pub body: Bytes,
}

impl Frame {
    pub(crate) fn new(kind: Kind, id: u64, method: u16, body: impl Into<Bytes>) -> Self {
        Self {
            kind,
            id,
            method,
            body: body.into(),
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        encode_raw(self.kind, self.id, self.method, &self.body, out);
    }
}

fn encode_raw(kind: Kind, id: u64, method: u16, body: &[u8], out: &mut Vec<u8>) {
    let len = (HEADER_BYTES + body.len()) as u32;
    out.extend_from_slice(&len.to_be_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&method.to_be_bytes());
    out.extend_from_slice(body);
}

/// A large message on its way out, and how much of its body is sent.
struct Outgoing {
    frame: Frame,
    sent: usize,
}

impl Outgoing {
    /// Encodes the next piece; true when that was the last one.
    fn encode_next(&mut self, out: &mut Vec<u8>) -> bool {
        let f = &self.frame;
        let rest = f.body.len() - self.sent;
        if rest > PART_BYTES {
            let piece = &f.body[self.sent..self.sent + PART_BYTES];
            encode_raw(Kind::Part, f.id, f.method, piece, out);
            self.sent += PART_BYTES;
            false
        } else {
            encode_raw(f.kind, f.id, f.method, &f.body[self.sent..], out);
            true
        }
    }
}

/// Writes the frames sent on `rx` until it is closed or the stream fails. Small frames go
/// out in the order they were sent; a large message goes a piece at a time, with every
/// small frame that is waiting sent before its next piece (see the module's text).
pub(crate) async fn write_frames<W: AsyncWrite + Unpin>(w: W, mut rx: mpsc::Receiver<Frame>) {
    let mut w = BufWriter::new(w);
    let mut buf = Vec::new();
    let mut large: VecDeque<Outgoing> = VecDeque::new();
    fn take(f: Frame, buf: &mut Vec<u8>, large: &mut VecDeque<Outgoing>) {
        if f.body.len() <= PART_BYTES {
            f.encode(buf);
        } else {
            large.push_back(Outgoing { frame: f, sent: 0 });
        }
    }
    loop {
        buf.clear();
        if large.is_empty() {
            match rx.recv().await {
                Some(f) => take(f, &mut buf, &mut large),
                None => return,
            }
        }
        while buf.len() < BATCH_BYTES {
            match rx.try_recv() {
                Ok(f) => take(f, &mut buf, &mut large),
                Err(_) => break,
            }
        }
        if let Some(m) = large.front_mut()
            && m.encode_next(&mut buf)
        {
            large.pop_front();
        }
        if w.write_all(&buf).await.is_err() || w.flush().await.is_err() {
            return;
        }
    }
}

/// Keeps at most about one piece of unsent data in the socket's send buffer. Without it
/// the kernel takes megabytes ahead of the link, and a keepalive written between two
/// pieces waits behind all of them: on a slow link, longer than the path timeout.
pub(crate) fn limit_unsent(tcp: &tokio::net::TcpStream) {
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_notsent_lowat(PART_BYTES as u32) {
        tracing::debug!(error = %e, "TCP_NOTSENT_LOWAT not set");
    }
}

/// Joins the pieces of large messages as their frames arrive, and bounds each message.
pub(crate) struct Assembler {
    max_bytes: usize,
    /// The message whose pieces are arriving: id, method, body so far.
    partial: Option<(u64, u16, Vec<u8>)>,
}

impl Assembler {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            partial: None,
        }
    }

    /// Takes one frame; returns a whole message (or a keepalive) when one is complete.
    pub(crate) fn push(&mut self, frame: Frame) -> io::Result<Option<Frame>> {
        let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        match (frame.kind, &mut self.partial) {
            (Kind::Part, None) => {
                self.partial = Some((frame.id, frame.method, frame.body.into()));
                self.check()?;
                Ok(None)
            }
            (Kind::Part, Some((id, method, body))) => {
                if *id != frame.id || *method != frame.method {
                    return Err(invalid(format!(
                        "peer sent a piece of message {} inside message {id}",
                        frame.id
                    )));
                }
                body.extend_from_slice(&frame.body);
                self.check()?;
                Ok(None)
            }
            (Kind::Request | Kind::ResponseOk | Kind::ResponseErr, Some((id, method, _)))
                if *id == frame.id =>
            {
                if *method != frame.method {
                    return Err(invalid(format!(
                        "peer changed the method of message {id} between its pieces"
                    )));
                }
                let (_, _, mut body) = self.partial.take().expect("checked above");
                body.extend_from_slice(&frame.body);
                if body.len() > self.max_bytes {
                    return Err(self.too_large(body.len()));
                }
                Ok(Some(Frame {
                    body: body.into(),
                    ..frame
                }))
            }
            _ => Ok(Some(frame)),
        }
    }

    fn check(&self) -> io::Result<()> {
        match &self.partial {
            Some((_, _, body)) if body.len() > self.max_bytes => Err(self.too_large(body.len())),
            _ => Ok(()),
        }
    }

    fn too_large(&self, len: usize) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "peer message of at least {len} bytes (limit {})",
                self.max_bytes
            ),
        )
    }
}

/// Reads one frame. `Ok(None)` on a clean end of stream before a frame starts.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max_bytes: usize,
) -> io::Result<Option<Frame>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len < HEADER_BYTES || len > max_bytes + HEADER_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("peer frame of {len} bytes (limit {max_bytes})"),
        ));
    }
    let mut header = [0u8; HEADER_BYTES];
    r.read_exact(&mut header).await?;
    let mut frame = decode(&header)?;
    // The body is read straight into its own buffer: no zeroing first and no second copy,
    // which for a 20 MiB message on the runtime that also answers keepalives matters.
    let body_len = len - HEADER_BYTES;
    let mut body = Vec::with_capacity(body_len);
    let got = (&mut *r)
        .take(body_len as u64)
        .read_to_end(&mut body)
        .await?;
    if got < body_len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    frame.body = body.into();
    Ok(Some(frame))
}

/// Decodes a frame without its length prefix.
pub(crate) fn decode(buf: &[u8]) -> io::Result<Frame> {
    if buf.len() < HEADER_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "short peer frame",
        ));
    }
    let kind = Kind::from_u8(buf[0]).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown frame kind {}", buf[0]),
        )
    })?;
    let id = u64::from_be_bytes(buf[1..9].try_into().expect("8 bytes"));
    let method = u16::from_be_bytes(buf[9..11].try_into().expect("2 bytes"));
    Ok(Frame {
        kind,
        id,
        method,
        body: Bytes::copy_from_slice(&buf[HEADER_BYTES..]),
    })
}

pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> io::Result<()> {
    let mut buf = Vec::with_capacity(4 + HEADER_BYTES + frame.body.len());
    frame.encode(&mut buf);
    w.write_all(&buf).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame survives encode/decode; oversized and malformed frames are rejected without
    /// allocating their claimed size.
    #[tokio::test]
    async fn framing_round_trip_and_bounds() {
        let f = Frame::new(Kind::Request, 42, 7, b"hello".to_vec());
        let mut buf = Vec::new();
        f.encode(&mut buf);
        let got = read_frame(&mut &buf[..], 1024).await.unwrap().unwrap();
        assert_eq!(
            (got.kind, got.id, got.method, &got.body[..]),
            (Kind::Request, 42, 7, &b"hello"[..])
        );

        let mut huge = Vec::new();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(read_frame(&mut &huge[..], 1024).await.is_err());

        let mut bad = Vec::new();
        Frame::new(Kind::Request, 1, 1, vec![]).encode(&mut bad);
        bad[4] = 99;
        assert!(read_frame(&mut &bad[..], 1024).await.is_err());

        for cut in 0..buf.len() {
            let r = read_frame(&mut &buf[..cut], 1024).await;
            assert!(matches!(r, Ok(None) | Err(_)), "cut {cut}");
        }
        assert!(decode(&[1, 2]).is_err());
    }

    /// A message larger than one piece arrives whole and unchanged, and a small frame
    /// (a keepalive) sent while the message is on the wire overtakes it: it arrives before
    /// the message's last piece.
    #[tokio::test]
    async fn large_messages_go_in_pieces_and_small_frames_overtake_them() {
        let big: Vec<u8> = (0..(3 * PART_BYTES + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        let (tx, rx) = mpsc::channel(16);
        // A narrow pipe: the writer blocks inside the large message until it is read.
        let (wire_w, mut wire_r) = tokio::io::duplex(64 << 10);
        let writer = tokio::spawn(write_frames(wire_w, rx));
        tx.send(Frame::new(Kind::Request, 7, 3, big.clone()))
            .await
            .unwrap();

        let mut asm = Assembler::new(4 * PART_BYTES);
        let mut kinds = Vec::new();
        let mut whole = Vec::new();
        while let Some(f) = read_frame(&mut wire_r, PART_BYTES).await.unwrap() {
            kinds.push(f.kind);
            if kinds.len() == 1 {
                tx.send(Frame::new(Kind::Ping, 8, 0, Vec::new()))
                    .await
                    .unwrap();
            }
            if let Some(m) = asm.push(f).unwrap() {
                let done = m.kind == Kind::Request;
                whole.push(m);
                if done {
                    break;
                }
            }
        }
        drop(tx);
        writer.await.unwrap();
        assert_eq!(kinds.first(), Some(&Kind::Part), "{kinds:?}");
        assert_eq!(kinds.last(), Some(&Kind::Request), "{kinds:?}");
        assert_eq!(kinds.len(), 5, "a ping and four pieces: {kinds:?}");
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].kind, Kind::Ping, "the ping waited for the message");
        assert_eq!(
            (whole[1].kind, whole[1].id, whole[1].method),
            (Kind::Request, 7, 3)
        );
        assert!(whole[1].body == big, "the message came back different");
    }

    /// The assembler bounds the whole message, not each piece, and refuses pieces of a
    /// second message while one is open.
    #[test]
    fn assembler_bounds_messages_and_refuses_interleaved_pieces() {
        let piece = || vec![0u8; 100];
        let mut asm = Assembler::new(250);
        assert!(
            asm.push(Frame::new(Kind::Part, 1, 1, piece()))
                .unwrap()
                .is_none()
        );
        assert!(
            asm.push(Frame::new(Kind::Part, 1, 1, piece()))
                .unwrap()
                .is_none()
        );
        assert!(asm.push(Frame::new(Kind::Part, 1, 1, piece())).is_err());

        let mut asm = Assembler::new(1000);
        asm.push(Frame::new(Kind::Part, 1, 1, piece())).unwrap();
        assert!(asm.push(Frame::new(Kind::Part, 2, 1, piece())).is_err());

        let mut asm = Assembler::new(250);
        asm.push(Frame::new(Kind::Part, 1, 1, piece())).unwrap();
        asm.push(Frame::new(Kind::Part, 1, 1, piece())).unwrap();
        assert!(
            asm.push(Frame::new(Kind::ResponseOk, 1, 1, piece()))
                .is_err()
        );

        // A whole small message between pieces is delivered; then the large one completes.
        let mut asm = Assembler::new(1000);
        asm.push(Frame::new(Kind::Part, 1, 1, piece())).unwrap();
        let small = asm
            .push(Frame::new(Kind::Request, 2, 9, vec![1]))
            .unwrap()
            .unwrap();
        assert_eq!((small.id, &small.body[..]), (2, &[1u8][..]));
        let done = asm
            .push(Frame::new(Kind::Request, 1, 1, piece()))
            .unwrap()
            .unwrap();
        assert_eq!((done.id, done.body.len()), (1, 200));
    }
}
