//! Packet framing: 4-byte headers (24-bit length, sequence id), payloads split into
//! 16 MiB chunks, `max_allowed_packet` enforced from the headers before any payload byte
//! is buffered, responses gathered in one buffer and written with one syscall.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::WireError;

/// Largest chunk payload; a chunk of exactly this size means "more chunks follow".
pub(crate) const MAX_CHUNK_BYTES: usize = 0xFF_FFFF;

/// Buffered response bytes beyond which the writer flushes before encoding more (so a
/// large result set is streamed rather than encoded whole a second time).
const FLUSH_THRESHOLD_BYTES: usize = 1024 * 1024;

/// The byte stream under the packets: plaintext, or TLS after an SslRequest.
pub(crate) enum Transport<S> {
    /// Plaintext.
    Plain(S),
    /// TLS, after the client's SslRequest.
    Tls(Box<TlsStream<Prefixed<S>>>),
    /// Placeholder while the stream is being upgraded (reads EOF, writes fail).
    Detached,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Transport<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Detached => Poll::Ready(Ok(())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Transport<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Detached => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s).poll_flush(cx),
            Transport::Detached => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Detached => Poll::Ready(Ok(())),
        }
    }
}

/// A stream that first yields bytes already read from it (see `upgrade_tls`).
pub(crate) struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.pos);
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Reads and writes whole packets, keeping the sequence id of the current exchange.
pub(crate) struct PacketStream<S> {
    io: BufReader<Transport<S>>,
    /// Sequence id of the next packet read or written.
    seq: u8,
    /// Framed response bytes not yet written.
    out: Vec<u8>,
    max_payload_bytes: usize,
    /// Longest wait for a client that does not read what we write.
    write_timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> PacketStream<S> {
    pub(crate) fn new(stream: S, max_payload_bytes: usize, write_timeout: Duration) -> Self {
        PacketStream {
            io: BufReader::new(Transport::Plain(stream)),
            seq: 0,
            out: Vec::new(),
            max_payload_bytes,
            write_timeout,
        }
    }

    /// Starts a new exchange: the client's command packet has sequence id 0.
    pub(crate) fn reset_seq(&mut self) {
        self.seq = 0;
    }

    pub(crate) fn is_secure(&self) -> bool {
        matches!(self.io.get_ref(), Transport::Tls(_))
    }

    /// Reads one whole payload, reassembling 16 MiB chunks. `Ok(None)` means the client
    /// closed the connection cleanly, before the first byte of a packet.
    pub(crate) async fn read_payload(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        let mut payload = Vec::new();
        let mut first_chunk = true;
        loop {
            let mut header = [0u8; 4];
            let got = read_up_to(&mut self.io, &mut header).await?;
            if got == 0 && first_chunk {
                return Ok(None);
            }
            if got < header.len() {
                return Err(WireError::UnexpectedEof { during: "packet" });
            }
            first_chunk = false;
            let chunk_bytes = usize::from(header[0])
                | (usize::from(header[1]) << 8)
                | (usize::from(header[2]) << 16);
            if header[3] != self.seq {
                return Err(WireError::PacketOutOfOrder {
                    expected: self.seq,
                    got: header[3],
                });
            }
            self.seq = self.seq.wrapping_add(1);
            let size_bytes = payload.len() + chunk_bytes;
            if size_bytes > self.max_payload_bytes {
                return Err(WireError::PacketTooLarge {
                    size_bytes,
                    max_bytes: self.max_payload_bytes,
                });
            }
            // `take` + `read_to_end` grows the buffer with the bytes that actually arrive,
            // so a header that announces 16 MiB costs nothing until the data comes.
            let read = (&mut self.io)
                .take(chunk_bytes as u64)
                .read_to_end(&mut payload)
                .await?;
            if read < chunk_bytes {
                return Err(WireError::UnexpectedEof { during: "packet" });
            }
            if chunk_bytes < MAX_CHUNK_BYTES {
                return Ok(Some(payload));
            }
        }
    }

    /// Appends one packet whose payload `encode` writes; splits it into chunks if needed.
    pub(crate) fn packet(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let start = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        encode(&mut self.out);
        let len = self.out.len() - start - 4;
        if len < MAX_CHUNK_BYTES {
            let l = (len as u32).to_le_bytes();
            self.out[start..start + 4].copy_from_slice(&[l[0], l[1], l[2], self.seq]);
            self.seq = self.seq.wrapping_add(1);
            return;
        }
        let payload = self.out.split_off(start + 4);
        self.out.truncate(start);
        let mut rest = &payload[..];
        loop {
            let n = rest.len().min(MAX_CHUNK_BYTES);
            let l = (n as u32).to_le_bytes();
            self.out.extend_from_slice(&[l[0], l[1], l[2], self.seq]);
            self.seq = self.seq.wrapping_add(1);
            self.out.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            // A payload that is an exact multiple of the chunk size ends with an empty
            // chunk, so the reader knows it is complete.
            if n < MAX_CHUNK_BYTES {
                break;
            }
        }
    }

    /// Writes everything buffered.
    pub(crate) async fn flush(&mut self) -> Result<(), WireError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let timeout = self.write_timeout;
        let (io, out) = (self.io.get_mut(), &self.out);
        let write = async {
            io.write_all(out).await?;
            io.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(result) => result?,
            Err(_) => return Err(WireError::IdleTimeout(timeout)),
        }
        self.out.clear();
        // Keep a moderate buffer around, not the largest response ever sent.
        if self.out.capacity() > 4 * FLUSH_THRESHOLD_BYTES {
            self.out = Vec::new();
        }
        Ok(())
    }

    /// Flushes when enough response bytes are buffered; called between rows.
    pub(crate) async fn flush_if_large(&mut self) -> Result<(), WireError> {
        if self.out.len() >= FLUSH_THRESHOLD_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Upgrades the connection to TLS after the client's SslRequest.
    ///
    /// A client sends its TLS ClientHello right behind the SslRequest without waiting, so
    /// the read buffer may already hold the start of it: those bytes are handed to the TLS
    /// layer first. They are parsed as TLS records, never as MySQL packets, so plaintext
    /// cannot be smuggled into the protected stream this way.
    pub(crate) async fn upgrade_tls(&mut self, acceptor: TlsAcceptor) -> Result<(), WireError> {
        let buffered = self.io.buffer().to_vec();
        let io = std::mem::replace(&mut self.io, BufReader::new(Transport::Detached));
        let Transport::Plain(stream) = io.into_inner() else {
            return Err(WireError::Malformed {
                what: "SslRequest on a connection that is already secure",
            });
        };
        let stream = Prefixed {
            prefix: buffered,
            pos: 0,
            inner: stream,
        };
        let tls = acceptor.accept(stream).await.map_err(WireError::Tls)?;
        self.io = BufReader::new(Transport::Tls(Box::new(tls)));
        Ok(())
    }

    /// Closes the write side (TLS close_notify, TCP FIN); errors are irrelevant by then.
    pub(crate) async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(self.write_timeout, self.io.get_mut().shutdown()).await;
    }
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
async fn read_up_to<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_over(bytes: Vec<u8>, max: usize) -> PacketStream<tokio::io::DuplexStream> {
        let (client, server) = tokio::io::duplex(64 * 1024 * 1024);
        let mut client = client;
        tokio::spawn(async move {
            let _ = client.write_all(&bytes).await;
            let _ = client.shutdown().await;
            // keep the client half alive until the server is done reading
            let mut sink = Vec::new();
            let _ = client.read_to_end(&mut sink).await;
        });
        PacketStream::new(server, max, Duration::from_secs(5))
    }

    /// A payload of exactly 2 * 0xFFFFFF bytes is written as two full chunks and one
    /// empty chunk, and the reader reassembles it byte for byte.
    #[tokio::test]
    async fn exact_multiple_of_chunk_size_round_trips() {
        let payload: Vec<u8> = (0..2 * MAX_CHUNK_BYTES).map(|i| (i % 251) as u8).collect();
        let (a, b) = tokio::io::duplex(1024 * 1024);
        let mut writer = PacketStream::new(a, usize::MAX, Duration::from_secs(5));
        let mut reader = PacketStream::new(b, 64 * 1024 * 1024, Duration::from_secs(5));
        let sent = payload.clone();
        let w = tokio::spawn(async move {
            writer.packet(|out| out.extend_from_slice(&sent));
            assert_eq!(writer.out.len(), 2 * MAX_CHUNK_BYTES + 3 * 4);
            writer.flush().await.unwrap();
        });
        let got = reader.read_payload().await.unwrap().unwrap();
        w.await.unwrap();
        assert!(got == payload);
        assert_eq!(reader.seq, 3);
    }

    /// A header announcing more than max_allowed_packet is refused before its payload is
    /// read, including when the excess comes from a later chunk.
    #[tokio::test]
    async fn oversized_header_is_refused_before_payload() {
        let mut s = stream_over(vec![0x00, 0x10, 0x00, 0x00], 1024);
        assert!(matches!(
            s.read_payload().await,
            Err(WireError::PacketTooLarge {
                size_bytes: 4096,
                max_bytes: 1024
            })
        ));
        let mut bytes = vec![0xFF, 0xFF, 0xFF, 0x00];
        bytes.extend(std::iter::repeat_n(7u8, MAX_CHUNK_BYTES));
        bytes.extend([0x01, 0x00, 0x00, 0x01]);
        let mut s = stream_over(bytes, MAX_CHUNK_BYTES);
        assert!(matches!(
            s.read_payload().await,
            Err(WireError::PacketTooLarge { .. })
        ));
    }

    /// Wrong sequence ids and truncated packets are errors; EOF between packets is a clean
    /// close.
    #[tokio::test]
    async fn framing_errors_are_reported() {
        let mut s = stream_over(vec![0x01, 0x00, 0x00, 0x05, 0x0e], 1024);
        assert!(matches!(
            s.read_payload().await,
            Err(WireError::PacketOutOfOrder {
                expected: 0,
                got: 5
            })
        ));
        let mut s = stream_over(vec![0x05, 0x00, 0x00, 0x00, 0x03], 1024);
        assert!(matches!(
            s.read_payload().await,
            Err(WireError::UnexpectedEof { .. })
        ));
        let mut s = stream_over(vec![0x05, 0x00], 1024);
        assert!(matches!(
            s.read_payload().await,
            Err(WireError::UnexpectedEof { .. })
        ));
        let mut s = stream_over(vec![], 1024);
        assert!(matches!(s.read_payload().await, Ok(None)));
    }
}
