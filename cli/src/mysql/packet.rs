//! Packet framing: a 3-byte little-endian length and a sequence number before every
//! payload; payloads of 16 MiB - 1 or more continue in the next packet. Responses are
//! buffered and sent with one write per command.

use crate::tls::{ReadPart, Stream, WritePart};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const MAX_CHUNK: usize = 0xff_ffff;

/// The largest request accepted (the `max_allowed_packet` a client sees): 64 MiB.
pub const MAX_PACKET: usize = 64 << 20;

/// One client connection's packets.
pub struct Packets {
    reader: BufReader<ReadPart>,
    writer: WritePart,
    tls: bool,
    seq: u8,
    out: Vec<u8>,
    /// The largest request accepted now: small until the client has logged in.
    limit: usize,
}

/// Sends one packet straight on the socket, before [`Packets`] exist (the greeting, which
/// may be followed by a TLS upgrade).
pub async fn send_raw(socket: &mut TcpStream, seq: u8, payload: &[u8]) -> io::Result<()> {
    let mut packet = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    packet.push(seq);
    packet.extend_from_slice(payload);
    socket.write_all(&packet).await
}

/// Reads one packet straight from the socket, reading no byte past it (what follows may be
/// a TLS handshake): its sequence number and payload; `None` when the client left.
pub async fn read_raw(socket: &mut TcpStream) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 4];
    match socket.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len > MAX_LOGIN_PACKET {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a packet of {len} bytes before login (at most {MAX_LOGIN_PACKET})"),
        ));
    }
    let mut payload = vec![0u8; len];
    socket.read_exact(&mut payload).await?;
    Ok(Some((header[3], payload)))
}

/// The largest packet accepted before login (a handshake response is a few hundred bytes).
pub const MAX_LOGIN_PACKET: usize = 64 << 10;

impl Packets {
    /// Packets over `stream`, the next one to send numbered `seq`.
    pub fn new(stream: Stream, seq: u8) -> Self {
        let _ = stream.tcp().set_nodelay(true);
        let tls = stream.is_tls();
        let (r, w) = stream.split();
        Packets {
            tls,
            reader: BufReader::with_capacity(64 * 1024, r),
            writer: w,
            seq,
            out: Vec::with_capacity(16 * 1024),
            limit: MAX_LOGIN_PACKET,
        }
    }

    /// True when the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The client logged in: requests up to [`MAX_PACKET`] are accepted from now on.
    pub fn logged_in(&mut self) {
        self.limit = MAX_PACKET;
    }

    /// Waits until the client sends something (or closes: `false`), without consuming it;
    /// safe to race against a timer.
    pub async fn ready(&mut self) -> io::Result<bool> {
        use tokio::io::AsyncBufReadExt;
        Ok(!self.reader.fill_buf().await?.is_empty())
    }

    /// The next payload, or `None` when the client closed the connection. The reply's
    /// sequence numbers follow the request's.
    pub async fn read(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut payload = Vec::new();
        loop {
            let mut header = [0u8; 4];
            match self.reader.read_exact(&mut header).await {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && payload.is_empty() => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
            let len =
                usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
            self.seq = header[3].wrapping_add(1);
            if payload.len() + len > MAX_PACKET {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a packet of more than {} bytes (max_allowed_packet is {MAX_PACKET})",
                        payload.len() + len
                    ),
                ));
            }
            if payload.len() + len > self.limit {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a packet of {} bytes before login (at most {})",
                        payload.len() + len,
                        self.limit
                    ),
                ));
            }
            // The buffer grows only as bytes arrive: a header that announces 16 MiB and
            // is followed by five bytes costs five bytes.
            let start = payload.len();
            let got = (&mut self.reader)
                .take(len as u64)
                .read_to_end(&mut payload)
                .await?;
            if got < len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "packet cut off after {} of {len} bytes",
                        payload.len() - start
                    ),
                ));
            }
            if len < MAX_CHUNK {
                return Ok(Some(payload));
            }
        }
    }

    /// Queues one payload as the next packet(s) of the reply.
    pub fn push(&mut self, payload: &[u8]) {
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_CHUNK);
            self.out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
            self.out.push(self.seq);
            self.seq = self.seq.wrapping_add(1);
            self.out.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if n < MAX_CHUNK {
                return;
            }
        }
    }

    /// Sends what was queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.writer.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Queued bytes not sent yet (large result sets are sent as they are produced).
    pub fn queued(&self) -> usize {
        self.out.len()
    }
}
