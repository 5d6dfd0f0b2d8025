//! A PostgreSQL client on raw bytes, for tests of what exactly goes over the wire.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One backend message: its type byte and body.
pub type Message = (u8, Vec<u8>);

pub fn connect(port: u16) -> TcpStream {
    let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
}

/// A startup packet for `user` and database `app` (the test daemons' name).
pub fn startup(socket: &mut TcpStream, user: &str) {
    startup_to(socket, user, "app")
}

pub fn startup_to(socket: &mut TcpStream, user: &str, database: &str) {
    let mut body = 196608i32.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", database)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    socket.write_all(&packet).unwrap();
}

pub fn send(socket: &mut TcpStream, kind: u8, body: &[u8]) {
    let mut packet = vec![kind];
    packet.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    packet.extend_from_slice(body);
    socket.write_all(&packet).unwrap();
}

/// The next message, or None at end of stream. A read timeout fails the test: the server
/// neither answered nor closed.
pub fn next(socket: &mut TcpStream) -> Option<Message> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < 5 {
        match socket.read(&mut head[got..]) {
            Ok(0) if got == 0 => return None,
            Ok(0) => panic!("connection closed inside a message header"),
            Ok(n) => got += n,
            Err(e) => panic!("no message and no close within 10 s: {e}"),
        }
    }
    let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0u8; len - 4];
    socket.read_exact(&mut body).unwrap();
    Some((head[0], body))
}

/// Messages up to and including the next ReadyForQuery (or the end of the stream).
pub fn until_ready(socket: &mut TcpStream) -> Vec<Message> {
    let mut got = Vec::new();
    while let Some(m) = next(socket) {
        let ready = m.0 == b'Z';
        got.push(m);
        if ready {
            break;
        }
    }
    got
}

/// The fields of an ErrorResponse body, by their one-byte codes.
pub fn fields(body: &[u8]) -> Vec<(u8, String)> {
    body.split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| (f[0], String::from_utf8_lossy(&f[1..]).into_owned()))
        .collect()
}

pub fn field(body: &[u8], code: u8) -> String {
    fields(body)
        .into_iter()
        .find(|(c, _)| *c == code)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

pub fn logged_in(port: u16) -> TcpStream {
    let mut socket = connect(port);
    startup(&mut socket, "demo");
    let login = until_ready(&mut socket);
    assert_eq!(login.first().map(|m| m.0), Some(b'R'), "{login:?}");
    assert_eq!(login.last().map(|m| m.0), Some(b'Z'), "{login:?}");
    socket
}

/// Sends simple query `sql`; the messages up to ReadyForQuery.
pub fn query(socket: &mut TcpStream, sql: &str) -> Vec<Message> {
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    send(socket, b'Q', &body);
    until_ready(socket)
}

/// True when a simple query `sql` on `socket` returns a row.
pub fn answers(socket: &mut TcpStream, sql: &str) -> bool {
    query(socket, sql).iter().any(|m| m.0 == b'D')
}
