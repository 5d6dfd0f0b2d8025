//! TLS for the listeners (rustls): certificates and keys read from PEM files at start and
//! again on SIGHUP, and the stream type the front ends serve, plain or TLS.

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::RwLock;
use std::task::{Context as TaskContext, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A listener's TLS: the acceptor, and the certificate it serves, which SIGHUP replaces
/// ([`Tls::reload`]) without a restart (connections already open keep theirs).
#[derive(Clone)]
pub struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    current: Arc<Current>,
}

/// The certificate served now, and where it comes from.
#[derive(Debug)]
struct Current {
    cert: PathBuf,
    key: PathBuf,
    loaded: RwLock<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    certified: Arc<CertifiedKey>,
    /// `tls-server-end-point` channel binding data (SCRAM-SHA-256-PLUS).
    end_point: Option<Vec<u8>>,
}

fn load(cert: &Path, key: &Path) -> anyhow::Result<Loaded> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificates from {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificates in {}", cert.display()))?;
    let Some(leaf) = chain.first() else {
        anyhow::bail!("{}: no certificate in it", cert.display());
    };
    let end_point = mdbd::auth::scram::server_end_point(leaf.as_ref());
    let key_der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key in {}", key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .with_context(|| format!("{}: not a usable private key", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().with_context(|| {
        format!(
            "{} and {} do not belong together",
            cert.display(),
            key.display()
        )
    })?;
    Ok(Loaded {
        certified: Arc::new(certified),
        end_point,
    })
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        Some(loaded.certified.clone())
    }
}

impl Tls {
    /// Reads the certificate chain and key (PEM) and builds the server configuration.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Tls> {
        let current = Arc::new(Current {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            loaded: RwLock::new(load(cert, key)?),
        });
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(current.clone());
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            current,
        })
    }

    /// Reads the files again; new handshakes get the new certificate. On an error the
    /// old one stays and the error says why.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = load(&self.current.cert, &self.current.key)?;
        *self
            .current
            .loaded
            .write()
            .unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// The channel binding data of the certificate served now (a reload between a
    /// client's handshake and its SCRAM exchange fails that one login's binding).
    pub fn end_point(&self) -> Option<Vec<u8>> {
        let loaded = self
            .current
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner());
        loaded.end_point.clone()
    }

    /// The certificate file, for logs.
    pub fn cert_path(&self) -> &Path {
        &self.current.cert
    }
}

/// A client connection, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Read and write halves, each usable from its own place. A plain socket splits
    /// without a lock (`TcpStream::into_split`); only TLS, whose state both halves share,
    /// takes tokio's locked split, so plain connections pay nothing per packet for TLS.
    pub fn split(self) -> (ReadPart, WritePart) {
        match self {
            Stream::Plain(s) => {
                let (r, w) = s.into_split();
                (ReadPart::Plain(r), WritePart::Plain(w))
            }
            Stream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (ReadPart::Tls(r), WritePart::Tls(w))
            }
        }
    }
}

type TlsServerStream = tokio_rustls::server::TlsStream<TcpStream>;

/// The read half of a [`Stream`].
pub enum ReadPart {
    Plain(tokio::net::tcp::OwnedReadHalf),
    Tls(tokio::io::ReadHalf<TlsServerStream>),
}

/// The write half of a [`Stream`].
pub enum WritePart {
    Plain(tokio::net::tcp::OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<TlsServerStream>),
}

impl AsyncRead for ReadPart {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ReadPart::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ReadPart::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WritePart {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            WritePart::Plain(s) => Pin::new(s).poll_write(cx, buf),
            WritePart::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            WritePart::Plain(s) => Pin::new(s).poll_flush(cx),
            WritePart::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            WritePart::Plain(s) => Pin::new(s).poll_shutdown(cx),
            WritePart::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
