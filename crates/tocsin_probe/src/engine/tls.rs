//! TLS for https origins: rustls with the `ring` provider, ALPN `http/1.1` for the
//! HTTP/1.1 paths and `h2` for single-packet. Roots are the Mozilla set plus any CA the
//! user gives; `insecure` (curl's -k) accepts any certificate but still checks the
//! handshake signatures.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::{EngineError, Origin};

/// What the user says about TLS.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Accept any server certificate (for self-signed test deployments).
    pub insecure: bool,
    /// Extra trusted CA certificates, PEM.
    pub ca_pem: Option<Vec<u8>>,
}

/// Client configurations built once per engine.
#[derive(Clone)]
pub(crate) struct TlsClients {
    http1: TlsConnector,
    h2: TlsConnector,
}

impl TlsClients {
    pub(crate) fn new(options: &TlsOptions) -> Result<TlsClients, String> {
        // ring, not aws-lc (whose build needs cmake); ring lacks post-quantum key
        // exchange, which rustls now flags as deprecated.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let config = if options.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(pem) = &options.ca_pem {
                let mut reader = std::io::BufReader::new(pem.as_slice());
                let mut added = 0;
                for cert in rustls_pemfile::certs(&mut reader) {
                    let cert = cert.map_err(|e| format!("invalid CA certificate: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("invalid CA certificate: {e}"))?;
                    added += 1;
                }
                if added == 0 {
                    return Err("the CA file holds no PEM certificate".into());
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        let mut http1 = config.clone();
        http1.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut h2 = config;
        h2.alpn_protocols = vec![b"h2".to_vec()];
        Ok(TlsClients {
            http1: TlsConnector::from(Arc::new(http1)),
            h2: TlsConnector::from(Arc::new(h2)),
        })
    }

    pub(crate) async fn connect<IO>(
        &self,
        origin: &Origin,
        io: IO,
        h2: bool,
    ) -> Result<TlsStream<IO>, EngineError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let host = origin.host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| EngineError::Tls(format!("invalid server name {host}: {e}")))?;
        let connector = if h2 { &self.h2 } else { &self.http1 };
        let stream = connector
            .connect(name, io)
            .await
            .map_err(|e| EngineError::Tls(e.to_string()))?;
        if h2 && stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(EngineError::Tls(
                "the server did not negotiate HTTP/2 (ALPN h2)".into(),
            ));
        }
        Ok(stream)
    }
}

#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A connection, plain or TLS, for the HTTP/1.1 paths.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
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
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
