//! TLS for PostgreSQL connections, with libpq's `sslmode` meanings:
//! `disable` plain; `prefer` (the default) TLS when the server offers it; `require` TLS
//! without certificate checks (libpq and sqlx do the same); `verify-ca` / `verify-full` TLS
//! with the certificate checked against `sslrootcert` (PEM file) or the Mozilla roots, and the
//! host name checked. tokio-postgres knows only disable/prefer/require and rejects
//! `sslrootcert`, so those are taken out of the connection string here.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What the connection string asked for beyond tokio-postgres' own options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub verify: bool,
    pub root_cert: Option<String>,
}

/// Rewrites `sslmode=verify-*` to `require` (remembering to verify) and removes
/// `sslrootcert=...`, in URL query strings and in `key=value` strings.
pub fn split_tls_options(connection_string: &str) -> (String, TlsOptions) {
    let mut options = TlsOptions::default();
    let mut keep = |key: &str, value: &str| -> Option<String> {
        match (key, value) {
            ("sslmode", "verify-ca" | "verify-full") => {
                options.verify = true;
                Some("require".into())
            }
            ("sslrootcert", path) => {
                options.root_cert = Some(path.to_string());
                None
            }
            _ => Some(value.to_string()),
        }
    };
    let rewritten = if connection_string.contains("://") {
        match connection_string.split_once('?') {
            None => connection_string.to_string(),
            Some((base, query)) => {
                let params: Vec<String> = query
                    .split('&')
                    .filter_map(|pair| match pair.split_once('=') {
                        Some((k, v)) => keep(k, v).map(|v| format!("{k}={v}")),
                        None => Some(pair.to_string()),
                    })
                    .collect();
                if params.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", params.join("&"))
                }
            }
        }
    } else {
        connection_string
            .split_whitespace()
            .filter_map(|pair| match pair.split_once('=') {
                Some((k, v)) => keep(k.trim(), v.trim()).map(|v| format!("{k}={v}")),
                None => Some(pair.to_string()),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (rewritten, options)
}

fn provider() -> Arc<CryptoProvider> {
    // Explicit provider: with several rustls providers compiled in, the implicit default panics.
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls connector for `options`.
pub fn connector(options: &TlsOptions) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let config = if options.verify {
        let mut roots = RootCertStore::empty();
        match &options.root_cert {
            Some(path) => {
                for cert in CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("sslrootcert {path}: {e}"))?
                {
                    let cert = cert.map_err(|e| format!("sslrootcert {path}: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("sslrootcert {path}: {e}"))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth()
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `sslmode=require` / `prefer`: encrypt, accept any certificate (libpq semantics), but still
/// check that the handshake signatures are valid.
#[derive(Debug)]
struct EncryptOnly(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_verify_modes_when_split_should_rewrite_for_tokio_postgres() {
        let (url, opts) =
            split_tls_options("postgresql://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem&x=1");
        assert_eq!(url, "postgresql://u@h/db?sslmode=require&x=1");
        assert_eq!(
            opts,
            TlsOptions {
                verify: true,
                root_cert: Some("/ca.pem".into())
            }
        );
        let (kv, opts) = split_tls_options("host=h sslmode=require sslrootcert=/ca.pem");
        assert_eq!(kv, "host=h sslmode=require");
        assert!(!opts.verify);
        let (plain, opts) = split_tls_options("postgresql://u@h/db");
        assert_eq!(
            (plain.as_str(), opts),
            ("postgresql://u@h/db", TlsOptions::default())
        );
    }

    #[test]
    fn given_options_when_building_connector_should_succeed_or_name_the_file() {
        assert!(connector(&TlsOptions::default()).is_ok());
        assert!(
            connector(&TlsOptions {
                verify: true,
                root_cert: None
            })
            .is_ok()
        );
        let error = connector(&TlsOptions {
            verify: true,
            root_cert: Some("/nonexistent.pem".into()),
        })
        .err()
        .unwrap();
        assert!(error.contains("/nonexistent.pem"), "{error}");
    }
}
