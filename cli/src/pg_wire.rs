//! The PostgreSQL front end's framing: client bytes into pgwire's frontend messages. The
//! first packets of a connection carry no type byte, so the decoder follows the
//! connection's state (SSLRequest, then the startup packet, then typed messages). Pure code
//! over bytes, here in the library so that the fuzz target and its corpus test reach the
//! decoder the daemon uses (`src/pg/serve.rs`).

use pgwire::api::{DefaultClient, PgWireConnectionState};
use pgwire::error::PgWireError;
use pgwire::messages::startup::{SslRequest, Startup};
use pgwire::messages::{Message, PgWireBackendMessage, PgWireFrontendMessage};
use std::io;
use tokio_util::codec::{Decoder, Encoder};

/// PostgreSQL's limit on a startup packet.
const MAX_STARTUP: usize = 10_000;
/// PostgreSQL's limit on any other message (`PQ_LARGE_MESSAGE_LIMIT`).
const MAX_MESSAGE: usize = (1 << 30) - 1;

/// Refuses a length field (at `at`) below `min` or above `max` before pgwire sees it:
/// pgwire subtracts from it unchecked, and a negative one would have it wait for 4 GiB.
fn checked_length(src: &[u8], at: usize, min: usize, max: usize) -> Result<(), PgWireError> {
    let Some(field) = src.get(at..at + 4) else {
        return Ok(());
    };
    let len = i32::from_be_bytes([field[0], field[1], field[2], field[3]]);
    match usize::try_from(len) {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(invalid(format!("invalid message length {len}"))),
    }
}

fn invalid(message: String) -> PgWireError {
    PgWireError::IoError(io::Error::new(io::ErrorKind::InvalidData, message))
}

/// Runs one of pgwire's decoders on the buffer, the buffer holding the whole message
/// first, so that a message whose body is shorter than what it declares inside (a count
/// of parameters past its end, a string without its NUL) is an error, not a panic of the
/// connection's task: pgwire's body decoders read with `bytes`' panicking getters.
fn guarded<T>(
    src: &mut bytes::BytesMut,
    decode: impl FnOnce(&mut bytes::BytesMut) -> Result<Option<T>, PgWireError>,
) -> Result<Option<T>, PgWireError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode(src)))
        .unwrap_or_else(|_| Err(invalid("malformed message".into())))
}

/// Frames client bytes into pgwire's frontend messages (the first packets have no type
/// byte, so the decoder follows the connection's state) and encodes backend messages.
pub struct Codec {
    client: DefaultClient<String>,
}

impl Codec {
    /// The codec of a new connection from `addr`.
    pub fn new(addr: std::net::SocketAddr) -> Codec {
        Codec {
            client: DefaultClient::new(addr, false),
        }
    }

    /// The connection's state, metadata and portals.
    pub fn client(&self) -> &DefaultClient<String> {
        &self.client
    }

    /// The same, to change.
    pub fn client_mut(&mut self) -> &mut DefaultClient<String> {
        &mut self.client
    }
}

impl Decoder for Codec {
    type Item = PgWireFrontendMessage;
    type Error = PgWireError;

    fn decode(&mut self, src: &mut bytes::BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        match self.client.state {
            PgWireConnectionState::AwaitingSslRequest => {
                if src.len() < SslRequest::BODY_SIZE {
                    return Ok(None);
                }
                self.client.state = PgWireConnectionState::AwaitingStartup;
                Ok(Some(PgWireFrontendMessage::SslRequest(SslRequest::decode(
                    src,
                )?)))
            }
            PgWireConnectionState::AwaitingStartup => {
                checked_length(src, 0, 8, MAX_STARTUP)?;
                guarded(src, |b| {
                    Ok(Startup::decode(b)?.map(PgWireFrontendMessage::Startup))
                })
            }
            _ => {
                checked_length(src, 1, 4, MAX_MESSAGE)?;
                guarded(src, PgWireFrontendMessage::decode)
            }
        }
    }
}

impl Encoder<PgWireBackendMessage> for Codec {
    type Error = io::Error;

    fn encode(&mut self, item: PgWireBackendMessage, dst: &mut bytes::BytesMut) -> io::Result<()> {
        item.encode(dst).map_err(Into::into)
    }
}

/// The first packet of a connection, from its 8-byte head (length and code): PostgreSQL's
/// special requests, or a startup packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// A CancelRequest (16 bytes in all).
    Cancel,
    /// An SSLRequest (8 bytes): answered `S` (then TLS) or `N`.
    SslRequest,
    /// A GSSENCRequest (8 bytes): answered `N` (no GSSAPI encryption).
    GssEncRequest,
    /// A startup packet of this many bytes.
    Startup(usize),
    /// A length PostgreSQL refuses (under 8 or over 10,000).
    Invalid(i32),
}

const CANCEL_REQUEST: i32 = 80877102;
const SSL_REQUEST: i32 = 80877103;
const GSSENC_REQUEST: i32 = 80877104;

/// What the packet starting with `head` is.
pub fn opening(head: &[u8; 8]) -> Opening {
    let len = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let code = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    match (len, code) {
        (16, CANCEL_REQUEST) => Opening::Cancel,
        (8, SSL_REQUEST) => Opening::SslRequest,
        (8, GSSENC_REQUEST) => Opening::GssEncRequest,
        (n, _) if (8..=MAX_STARTUP as i32).contains(&n) => Opening::Startup(n as usize),
        (n, _) => Opening::Invalid(n),
    }
}

/// Entry points for the fuzz target and its corpus test.
pub mod fuzzing {
    use super::Codec;
    use bytes::BytesMut;
    use pgwire::api::PgWireConnectionState;
    use pgwire::messages::PgWireFrontendMessage;
    use tokio_util::codec::Decoder;

    /// Decodes `data` as a client's whole stream: messages until the bytes run out or do
    /// not frame; after the startup packet the connection counts as logged in. Returns
    /// how many messages decoded.
    pub fn frontend_messages(data: &[u8]) -> usize {
        let mut codec = Codec::new(std::net::SocketAddr::from(([127, 0, 0, 1], 1)));
        let mut buf = BytesMut::from(data);
        let mut count = 0;
        while let Ok(Some(message)) = codec.decode(&mut buf) {
            match message {
                // "Not an SSLRequest": a marker of the decoder's, no message.
                PgWireFrontendMessage::SslRequest(None) => continue,
                PgWireFrontendMessage::Startup(_) => {
                    codec.client_mut().state = PgWireConnectionState::ReadyForQuery;
                }
                _ => {}
            }
            count += 1;
        }
        count
    }

    /// Runs `data` through the path of an unauthenticated connection: opening requests
    /// (as the server answers them, TLS taken as transparent), the startup packet, then
    /// password messages through the authentication parsers. Returns the openings seen.
    pub fn startup_path(data: &[u8]) -> Vec<super::Opening> {
        use super::Opening;
        let mut seen = Vec::new();
        let mut rest = data;
        while let Some(head) = rest.first_chunk::<8>() {
            let opening = super::opening(head);
            seen.push(opening);
            match opening {
                Opening::SslRequest | Opening::GssEncRequest => rest = &rest[8..],
                Opening::Cancel | Opening::Invalid(_) => return seen,
                Opening::Startup(_) => break,
            }
        }
        let mut codec = Codec::new(std::net::SocketAddr::from(([127, 0, 0, 1], 1)));
        codec.client_mut().state = PgWireConnectionState::AwaitingStartup;
        let mut buf = BytesMut::from(rest);
        if !matches!(
            codec.decode(&mut buf),
            Ok(Some(PgWireFrontendMessage::Startup(_)))
        ) {
            return seen;
        }
        codec.client_mut().state = PgWireConnectionState::AuthenticationInProgress;
        while let Ok(Some(message)) = codec.decode(&mut buf) {
            if let PgWireFrontendMessage::PasswordMessageFamily(
                pgwire::messages::startup::PasswordMessageFamily::Raw(body),
            ) = message
            {
                for which in 0..4u8 {
                    let mut input = vec![which];
                    input.extend_from_slice(&body);
                    crate::auth::fuzzing::auth_messages(&input);
                }
            }
        }
        seen
    }
}
