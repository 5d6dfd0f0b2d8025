//! Packet framing: a 3-byte little-endian length and a sequence number before every
//! payload; payloads of 16 MiB - 1 or more continue in the next packet. Responses are
//! buffered and sent with one write per command.

use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

const MAX_CHUNK: usize = 0xff_ffff;

/// The largest request accepted (the `max_allowed_packet` a client sees): 64 MiB.
pub const MAX_PACKET: usize = 64 << 20;

/// One client connection's packets.
pub struct Packets {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    seq: u8,
    out: Vec<u8>,
}

impl Packets {
    pub fn new(socket: TcpStream) -> Self {
        let _ = socket.set_nodelay(true);
        let (r, w) = socket.into_split();
        Packets {
            reader: BufReader::with_capacity(64 * 1024, r),
            writer: w,
            seq: 0,
            out: Vec::with_capacity(16 * 1024),
        }
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
            let start = payload.len();
            payload.resize(start + len, 0);
            self.reader.read_exact(&mut payload[start..]).await?;
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
