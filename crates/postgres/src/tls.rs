//! TLS to PostgreSQL, as libpq's `sslmode` and `sslrootcert` in `DATABASE_URL` ask for it,
//! with rustls (no OpenSSL).
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (the default, as libpq's, but see below) | when the server offers it, else plain | not checked |
//! | `require` | always | not checked (encryption only) |
//! | `verify-ca` | always | signed by a root of `sslrootcert` |
//! | `verify-full` | always | signed by a root of `sslrootcert` and issued for the host name |
//!
//! Without `sslmode`, a connection to a loopback host (`localhost`, `127.0.0.0/8`, `::1`) is
//! plain: encryption there protects nothing and costs the hot path (measured with `bench/run`:
//! about a tenth of `GET /users/{id}`'s throughput). Any other host gets libpq's `prefer`.
//!
//! `sslrootcert` is a PEM file of root certificates; without it (or with `sslrootcert=system`)
//! the system's trust store is used. Both parameters are taken out of the URL before the rest
//! goes to `tokio-postgres`, which knows neither `verify-*` nor `sslrootcert`.

use std::{fmt, path::PathBuf, sync::Arc};

use diesel::{ConnectionError, ConnectionResult};
use diesel_async::AsyncPgConnection;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, WebPkiSupportedAlgorithms},
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject as _},
};
use url::Url;

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, String> {
        match value {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            "allow" => Err(
                "sslmode=allow is not supported: use prefer, or disable to never use TLS".into(),
            ),
            other => Err(format!(
                "unknown sslmode {other:?}: use disable, prefer, require, verify-ca or verify-full"
            )),
        }
    }
}

/// How every connection to one `DATABASE_URL` is opened: the URL without the TLS parameters,
/// and the TLS set-up those asked for (built once, shared by every connection of a pool).
#[derive(Clone)]
pub struct ConnectSettings {
    url: String,
    mode: SslMode,
    tls: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for ConnectSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectSettings")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Why a `DATABASE_URL` cannot be used; the message names the URL's parameter, never its password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsSettingsError(String);

impl ConnectSettings {
    /// Reads `sslmode` and `sslrootcert` from `database_url` and loads the root certificates.
    ///
    /// # Errors
    /// An unknown `sslmode`, an unreadable `sslrootcert` or one without a certificate, or a URL
    /// that does not parse.
    pub fn from_url(database_url: &str) -> Result<Self, TlsSettingsError> {
        let mut url = Url::parse(database_url)
            .map_err(|e| TlsSettingsError(format!("not a postgres:// URL: {e}")))?;
        let mut mode = None;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => mode = Some(SslMode::parse(&value).map_err(TlsSettingsError)?),
                "sslrootcert" => root_cert = Some(value.into_owned()),
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        let mode = mode.unwrap_or_else(|| {
            if is_loopback(&url) {
                SslMode::Disable
            } else {
                SslMode::Prefer
            }
        });
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        // tokio-postgres itself only needs to know whether to ask for TLS.
        let tokio_mode = match mode {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "require",
        };
        url.query_pairs_mut().append_pair("sslmode", tokio_mode);
        let tls = match mode {
            SslMode::Disable => None,
            SslMode::Prefer | SslMode::Require => {
                Some(client_config(Arc::new(ServerVerifier::new(None))))
            }
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let roots = load_roots(root_cert.as_deref())?;
                let webpki = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::new(provider()),
                )
                .build()
                .map_err(|e| TlsSettingsError(format!("sslrootcert: {e}")))?;
                Some(client_config(Arc::new(ServerVerifier::new(Some(Chain {
                    webpki,
                    check_name: mode == SslMode::VerifyFull,
                })))))
            }
        };
        Ok(Self {
            url: url.into(),
            mode,
            tls,
        })
    }

    /// The `sslmode` asked for.
    #[must_use]
    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// Opens one connection.
    ///
    /// # Errors
    /// The connection or the TLS handshake fails (a certificate that is not trusted included).
    pub async fn connect(&self) -> ConnectionResult<AsyncPgConnection> {
        let config: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| ConnectionError::BadConnection(e.to_string()))?;
        match &self.tls {
            None => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
            Some(tls) => {
                let (client, connection) = config
                    .connect(tokio_postgres_rustls::MakeRustlsConnect::new(
                        (**tls).clone(),
                    ))
                    .await
                    .map_err(|e| ConnectionError::BadConnection(tls_error_text(&e)))?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
        }
    }
}

/// Whether the URL's host is this machine (`localhost`, a loopback address).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        // A `postgres://` URL's host is opaque to `url`: an address arrives as a domain.
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// tokio-postgres words a refused certificate as "error performing TLS handshake"; the cause
/// (rustls's reason) is one level down.
fn tls_error_text(error: &tokio_postgres::Error) -> String {
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn client_config(verifier: Arc<dyn ServerCertVerifier>) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls's default protocol versions");
    Arc::new(
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    )
}

fn load_roots(root_cert: Option<&str>) -> Result<RootCertStore, TlsSettingsError> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        None | Some("system") => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
        Some(path) => {
            let path = PathBuf::from(path);
            let certs = CertificateDer::pem_file_iter(&path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| {
                    TlsSettingsError(format!(
                        "sslrootcert: cannot read certificates from {}: {e}",
                        path.display()
                    ))
                })?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsSettingsError(format!(
                    "sslrootcert: no certificate in {}",
                    path.display()
                )));
            }
        }
    }
    if roots.is_empty() {
        return Err(TlsSettingsError(
            "verify-ca/verify-full: no root certificates (set sslrootcert=/path/to/root.crt)"
                .into(),
        ));
    }
    Ok(roots)
}

/// How the server's certificate is checked. Without a [`Chain`] (`require` and `prefer`):
/// encryption without checking who is at the other end (libpq's behaviour). The handshake's
/// signatures are verified in every mode.
#[derive(Debug)]
struct ServerVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    chain: Option<Chain>,
}

/// `verify-ca` and `verify-full`: the chain must lead to one of the roots; `verify-full` also
/// wants the certificate issued for the host name of the URL.
#[derive(Debug)]
struct Chain {
    webpki: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerVerifier {
    fn new(chain: Option<Chain>) -> Self {
        Self {
            algorithms: provider().signature_verification_algorithms,
            chain,
        }
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !chain.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_parameters_leave_the_url_and_the_rest_stays() {
        let settings = ConnectSettings::from_url(
            "postgres://u:p@db.example.com:5433/app?sslmode=require&application_name=um",
        )
        .expect("valid");
        assert_eq!(settings.mode(), SslMode::Require);
        assert_eq!(
            settings.url,
            "postgres://u:p@db.example.com:5433/app?application_name=um&sslmode=require"
        );
    }

    #[test]
    fn without_sslmode_tls_is_preferred_except_on_loopback() {
        let remote =
            ConnectSettings::from_url("postgres://app@db.example.com:5432/app").expect("valid");
        assert_eq!(remote.mode(), SslMode::Prefer);
        assert!(remote.tls.is_some());
        for local in [
            "postgres://postgres@127.0.0.1:5432/app",
            "postgres://postgres@127.0.0.2/app",
            "postgres://postgres@localhost/app",
            "postgres://postgres@[::1]:5432/app",
        ] {
            let settings = ConnectSettings::from_url(local).expect("valid");
            assert_eq!(settings.mode(), SslMode::Disable, "{local}");
            assert!(settings.tls.is_none());
        }
        let asked =
            ConnectSettings::from_url("postgres://h@127.0.0.1/app?sslmode=require").expect("valid");
        assert_eq!(asked.mode(), SslMode::Require, "an explicit sslmode wins");
        let plain = ConnectSettings::from_url("postgres://h/app?sslmode=disable").expect("valid");
        assert!(plain.tls.is_none());
        assert!(plain.url.ends_with("sslmode=disable"), "{}", plain.url);
    }

    #[test]
    fn verify_modes_are_told_to_tokio_postgres_as_require() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path().join("root.crt");
        let cert = rcgen::generate_simple_self_signed(vec!["db.example.com".into()])
            .expect("a certificate");
        std::fs::write(&root, cert.cert.pem()).expect("write the root");

        let settings = ConnectSettings::from_url(&format!(
            "postgres://h/app?sslmode=verify-ca&sslrootcert={}",
            root.display()
        ))
        .expect("valid");

        assert_eq!(settings.mode(), SslMode::VerifyCa);
        assert_eq!(settings.url, "postgres://h/app?sslmode=require");
    }

    #[test]
    fn bad_values_are_refused_with_what_to_write_instead() {
        let unknown =
            ConnectSettings::from_url("postgres://h/app?sslmode=always").expect_err("bad");
        assert!(unknown.0.contains("verify-full"), "{unknown}");
        let allow = ConnectSettings::from_url("postgres://h/app?sslmode=allow").expect_err("bad");
        assert!(allow.0.contains("not supported"), "{allow}");
        let missing = ConnectSettings::from_url(
            "postgres://h/app?sslmode=verify-full&sslrootcert=/nonexistent/root.crt",
        )
        .expect_err("no such file");
        assert!(missing.0.contains("/nonexistent/root.crt"), "{missing}");
    }
}
