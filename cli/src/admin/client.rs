//! A minimal HTTP/1.1 client for `mdbd status` and `mdbd detach`: one request per
//! connection to the local admin API, so no HTTP client library is needed.

use anyhow::{bail, Context};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `method path` to `addr` and returns the JSON body of a 2xx answer.
pub fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let mut stream = TcpStream::connect(addr)
        .with_context(|| format!("connecting to the admin API at {addr} (is mdbd running?)"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP answer")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let json: serde_json::Value = serde_json::from_str(body.trim())
        .unwrap_or(serde_json::Value::String(body.trim().to_string()));
    if !(200..300).contains(&status) {
        bail!(
            "{method} {path}: HTTP {status}: {}",
            json.get("error")
                .and_then(|e| e.as_str())
                .unwrap_or(body.trim())
        );
    }
    Ok(json)
}
