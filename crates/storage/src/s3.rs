//! The S3 object store: one bucket, path-style addressing; rust-s3 0.37 signs the requests and
//! hyper sends them ([`transport`]: connections that ACK at once, as s3s-fs needs to answer a GET
//! without a 40 ms stall).
//!
//! Requests are built by rust-s3's request layer ([`ReqwestRequest`]: URL, signed headers, body)
//! rather than by its `Bucket` helpers, for three reasons found in its source:
//! - the helpers retry every failure once after sleeping a second (`s3::set_retries`, a process
//!   global), and with `fail-on-err` a 404 is a failure: every GET of a missing key would take a
//!   second, and an outage would take longer to report;
//! - `get_object_stream` returns the body without the response headers (no ETag, no length);
//! - there is no HEAD-bucket helper, and `Bucket::exists()` lists *all* buckets and cannot parse
//!   s3s-fs's reply.
//!
//! Timeouts: rust-s3's tokio backend puts no timeout on its HTTP client unless the bucket is
//! rebuilt with `with_request_timeout` (the `request_timeout` field alone does nothing there),
//! and that timeout would cover the whole body, cutting off slow downloads. So every request
//! here must *answer* (status and headers) within [`S3ObjectStore::with_timeout`] (default
//! [`DEFAULT_REQUEST_TIMEOUT`]), and a streamed body must not stall for longer than that between
//! two chunks.

mod transport;

use std::{fmt, io, time::Duration};

use anyhow::{Context as _, anyhow, bail};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt as _};
use http_body_util::{BodyDataStream, BodyExt as _, Full};
use hyper::{
    Method, Response,
    body::{Body as _, Incoming},
    header::{CACHE_CONTROL, ETAG, HeaderMap, HeaderValue},
};
use s3::{
    Bucket, BucketConfiguration, Region,
    command::{Command, HttpMethod},
    creds::Credentials,
    error::S3Error,
    request::{Request as _, tokio_backend::ReqwestRequest},
    serde_types::ListBucketResult,
};
use secrecy::{ExposeSecret as _, SecretString};
use um_domain::{
    model::PictureKey,
    ports::{ByteStream, ObjectInfo, ObjectStore, StoreError, StoredObject},
};
use url::Url;

use crate::key_etag;

/// How long a request may take to answer, unless [`S3ObjectStore::with_timeout`] says otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Keys per ListObjectsV2 page (the S3 maximum).
const LIST_PAGE_SIZE: usize = 1000;

/// Pictures are immutable under their key; a client or CDN reading the bucket directly
/// (`S3_PUBLIC_URL`) may keep them for a year, as `GET /pictures/{key}` allows.
const PICTURE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Where the bucket is and how to sign requests to it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `S3_ENDPOINT`: the server's base URL, `http(s)://host[:port]`, without a path.
    pub endpoint: String,
    /// `S3_BUCKET`: created on [`S3ObjectStore::connect`] when missing.
    pub bucket: String,
    /// `S3_REGION`: part of the signature; MinIO's default is `us-east-1`.
    pub region: String,
    /// `S3_ACCESS_KEY`.
    pub access_key: String,
    /// `S3_SECRET_KEY`: never printed (its `Debug` is redacted).
    pub secret_key: SecretString,
}

/// An [`ObjectStore`] on one S3 bucket, addressed path-style (`{endpoint}/{bucket}/{key}`), as
/// MinIO and s3s-fs need.
pub struct S3ObjectStore {
    /// Signs the requests and makes their URLs; rust-s3's own HTTP client in it stays unused.
    bucket: Box<Bucket>,
    http: transport::HttpClient,
    /// `scheme://host[:port]`, for messages.
    endpoint: String,
    timeout: Duration,
    list_page_size: usize,
}

/// Shows where the bucket is, never the credentials (rust-s3's own `Debug` would print them).
impl fmt::Debug for S3ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3ObjectStore")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket.name)
            .field("region", &self.bucket.region.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl S3ObjectStore {
    /// Checks the settings and connects: makes sure the bucket exists (creating it when
    /// missing; a concurrent creation is fine) and that the credentials may use it.
    ///
    /// # Errors
    /// When a setting is unusable (the message names it), when the store is unreachable, or
    /// when it refuses the credentials or the bucket. The secret key is never part of a message.
    pub async fn connect(settings: S3Settings) -> anyhow::Result<Self> {
        let store = Self::new(settings)?;
        store.ensure_bucket().await?;
        Ok(store)
    }

    /// Checks the settings and builds the client, without any request: neither the server nor
    /// the bucket is checked (see [`S3ObjectStore::connect`]).
    ///
    /// # Errors
    /// When a setting is unusable; the message names it.
    pub fn new(settings: S3Settings) -> anyhow::Result<Self> {
        let S3Settings {
            endpoint,
            bucket,
            region,
            access_key,
            secret_key,
        } = settings;
        let endpoint = normalize_endpoint(&endpoint)?;
        check_bucket_name(&bucket)?;
        let region = region.trim();
        if region.is_empty() {
            bail!("S3_REGION must not be empty (MinIO's default is us-east-1)");
        }
        if access_key.trim().is_empty() {
            bail!("S3_ACCESS_KEY must not be empty");
        }
        if secret_key.expose_secret().is_empty() {
            bail!("S3_SECRET_KEY must not be empty");
        }
        let credentials = Credentials::new(
            Some(&access_key),
            Some(secret_key.expose_secret()),
            None,
            None,
            None,
        )
        // The error of `Credentials::new` never carries the keys themselves.
        .context("S3_ACCESS_KEY / S3_SECRET_KEY are not usable")?;
        let region = Region::Custom {
            region: region.to_owned(),
            endpoint: endpoint.clone(),
        };
        let bucket = Bucket::new(&bucket, region, credentials)
            .context("could not build the HTTP client for the S3 store")?
            .with_path_style();
        let http = transport::HttpClient::new()?;
        Ok(Self {
            bucket,
            http,
            endpoint,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            list_page_size: LIST_PAGE_SIZE,
        })
    }

    /// How long a request may take to answer, and a streamed body to stall, before the store
    /// counts as unavailable.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The bucket's name.
    #[must_use]
    pub fn bucket(&self) -> &str {
        &self.bucket.name
    }

    /// The server, as `scheme://host[:port]`.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn ensure_bucket(&self) -> anyhow::Result<()> {
        match self.probe().await {
            Ok(()) => return Ok(()),
            Err(Failure::Status { status: 404, .. }) => {}
            Err(failure) => return Err(self.connect_error(failure)),
        }
        match self.create_bucket().await {
            // 409: someone created it meanwhile (MinIO: BucketAlreadyOwnedByYou); s3s-fs
            // answers BucketAlreadyExists even to its owner. The probe below tells.
            Ok(()) | Err(Failure::Status { status: 409, .. }) => {}
            Err(failure) => {
                return Err(self.connect_error(failure).context(format!(
                    "could not create the bucket {:?}",
                    self.bucket.name
                )));
            }
        }
        self.probe()
            .await
            .map_err(|failure| self.connect_error(failure))
    }

    /// The cheapest authenticated request on the bucket: list at most one key.
    async fn probe(&self) -> Result<(), Failure> {
        let command = Command::ListObjectsV2 {
            prefix: String::new(),
            delimiter: None,
            continuation_token: None,
            start_after: None,
            max_keys: Some(1),
        };
        self.send("/", command).await.map(drop)
    }

    async fn create_bucket(&self) -> Result<(), Failure> {
        let mut config = BucketConfiguration::default();
        // As on AWS, us-east-1 is the region without a location constraint.
        if self.bucket.region.to_string() != "us-east-1" {
            config.set_location_constraint(self.bucket.region.clone());
        }
        self.send("", Command::CreateBucket { config })
            .await
            .map(drop)
    }

    /// A `connect` error that says what to check.
    fn connect_error(&self, failure: Failure) -> anyhow::Error {
        let bucket = &self.bucket.name;
        let endpoint = &self.endpoint;
        let hint = match &failure {
            Failure::Unreachable(_) => {
                format!("the S3 store at {endpoint} is unreachable (check S3_ENDPOINT)")
            }
            Failure::Status { status, .. } if *status >= 500 => {
                format!("the S3 store at {endpoint} is unavailable")
            }
            Failure::Status {
                status: 401 | 403, ..
            } => format!(
                "the S3 store at {endpoint} refused access to the bucket {bucket:?} \
                 (check S3_ACCESS_KEY, S3_SECRET_KEY and S3_REGION)"
            ),
            Failure::Status { status: 404, .. } => {
                format!("the bucket {bucket:?} does not exist at {endpoint} (check S3_BUCKET)")
            }
            Failure::Status {
                code: Some(code), ..
            } if code.contains("Region")
                || code.contains("Location")
                || code == "AuthorizationHeaderMalformed" =>
            {
                format!("the S3 store at {endpoint} rejected the region (check S3_REGION)")
            }
            Failure::Status { .. } | Failure::Other(_) => format!(
                "the S3 store at {endpoint} could not be used with the bucket {bucket:?} \
                 (check the S3_ settings)"
            ),
        };
        failure.into_error().context(hint)
    }

    /// Sends one signed request; it must answer within the timeout. An error status comes back
    /// as [`Failure::Status`], its body (the S3 error document) already read.
    async fn send(&self, path: &str, command: Command<'_>) -> Result<Response<Incoming>, Failure> {
        let exchange = async {
            let request = self.signed_request(path, command).await?;
            let response = self
                .http
                .send(request)
                .await
                // Whatever hyper reports here is about the connection: refused, reset, DNS, TLS.
                .map_err(|error| Failure::Unreachable(error.into()))?;
            if response.status().is_success() {
                return Ok(response);
            }
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|error| Failure::Unreachable(error.into()))?
                .to_bytes();
            Err(Failure::from_error_body(
                status,
                &String::from_utf8_lossy(&body),
            ))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_elapsed) => Err(Failure::Unreachable(anyhow!(
                "no answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// The request for `command` on `path`, as rust-s3 would send it: URL, signed headers
    /// (`Host` included), body.
    async fn signed_request(
        &self,
        path: &str,
        command: Command<'_>,
    ) -> Result<hyper::Request<Full<Bytes>>, Failure> {
        let signer = ReqwestRequest::new(&self.bucket, path, command).await?;
        let method = match signer.command.http_verb() {
            HttpMethod::Get => Method::GET,
            HttpMethod::Put => Method::PUT,
            HttpMethod::Post => Method::POST,
            HttpMethod::Delete => Method::DELETE,
            HttpMethod::Head => Method::HEAD,
        };
        let url = signer.url()?;
        let headers = signer.headers().await?;
        let body = Bytes::from(signer.request_body()?);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(url.as_str())
            .body(Full::new(body))
            .with_context(|| format!("could not build the request for {url}"))
            .map_err(Failure::Other)?;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Reads a whole (small) reply body within the timeout.
    async fn read_body(&self, response: Response<Incoming>) -> Result<Bytes, Failure> {
        match tokio::time::timeout(self.timeout, response.into_body().collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(error)) => Err(Failure::Unreachable(error.into())),
            Err(_elapsed) => Err(Failure::Unreachable(anyhow!(
                "reply body not read within {:?}",
                self.timeout
            ))),
        }
    }

    /// What a request was about, for messages: `GET s3://bucket/key at http://host:port`.
    fn what(&self, operation: &str, key: Option<&PictureKey>) -> String {
        let key = key.map(PictureKey::as_str).unwrap_or_default();
        format!(
            "{operation} s3://{}/{key} at {}",
            self.bucket.name, self.endpoint
        )
    }

    /// One page of the listing. A server error (5xx) is asked again once after a moment: a
    /// listing only reads, and a store busy with writes (s3s-fs renaming files under it, a MinIO
    /// node restarting) answers the next one; the sweep that lists would otherwise fail whole.
    async fn list_page(
        &self,
        continuation_token: Option<String>,
    ) -> Result<ListBucketResult, Failure> {
        let command = || Command::ListObjectsV2 {
            prefix: String::new(),
            delimiter: None,
            continuation_token: continuation_token.clone(),
            start_after: None,
            max_keys: Some(self.list_page_size),
        };
        let response = match self.send("/", command()).await {
            Err(Failure::Status { status, .. }) if status >= 500 => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.send("/", command()).await?
            }
            other => other?,
        };
        let body = self.read_body(response).await?;
        quick_xml::de::from_reader(body.as_ref())
            .context("unreadable ListObjectsV2 reply")
            .map_err(Failure::Other)
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(&self, key: &PictureKey, bytes: Bytes) -> Result<(), StoreError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static(PICTURE_CACHE_CONTROL),
        );
        let command = Command::PutObject {
            content: &bytes,
            content_type: key.content_type(),
            custom_headers: Some(headers),
            multipart: None,
        };
        self.send(key.as_str(), command)
            .await
            .map(drop)
            .map_err(|failure| failure.into_store_error(self.what("PUT", Some(key))))
    }

    async fn get(&self, key: &PictureKey) -> Result<Option<StoredObject>, StoreError> {
        let response = match self.send(key.as_str(), Command::GetObject).await {
            Ok(response) => response,
            Err(Failure::Status {
                status: 404, code, ..
            }) if code.as_deref() != Some("NoSuchBucket") => return Ok(None),
            Err(failure) => return Err(failure.into_store_error(self.what("GET", Some(key)))),
        };
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|value| value.to_str().ok())
            .and_then(strong_etag)
            .unwrap_or_else(|| key_etag(key));
        // From `Content-Length`, as hyper reads the body by it.
        let length = response.body().size_hint().exact();
        Ok(Some(StoredObject {
            // From the key, not from the reply: what we serve is decided by what we stored,
            // whatever else may have been written into the bucket under that name.
            content_type: key.content_type().to_owned(),
            etag,
            length,
            body: stalling_after(BodyDataStream::new(response.into_body()), self.timeout),
        }))
    }

    async fn delete(&self, key: &PictureKey) -> Result<(), StoreError> {
        match self.send(key.as_str(), Command::DeleteObject).await {
            // S3 answers 204 for an absent key; some servers say NoSuchKey.
            Ok(_)
            | Err(Failure::Status {
                status: 404,
                code: None,
                ..
            }) => Ok(()),
            Err(Failure::Status {
                status: 404,
                code: Some(code),
                ..
            }) if code == "NoSuchKey" => Ok(()),
            Err(failure) => Err(failure.into_store_error(self.what("DELETE", Some(key)))),
        }
    }

    async fn list(&self) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut objects = Vec::new();
        let mut continuation_token = None;
        loop {
            let page = self
                .list_page(continuation_token.take())
                .await
                .map_err(|failure| failure.into_store_error(self.what("LIST", None)))?;
            for object in page.contents {
                let last_modified = DateTime::parse_from_rfc3339(&object.last_modified)
                    .with_context(|| {
                        format!(
                            "object {:?} has an unreadable LastModified {:?}",
                            object.key, object.last_modified
                        )
                    })
                    .map_err(StoreError::Other)?
                    .with_timezone(&Utc);
                objects.push(ObjectInfo {
                    key: object.key,
                    last_modified,
                });
            }
            match page.next_continuation_token {
                Some(token) if page.is_truncated => continuation_token = Some(token),
                _ => break,
            }
        }
        Ok(objects)
    }

    /// Every failure is `Unavailable` here: the store is not ready, whatever the reason
    /// (unreachable, refusing the credentials, bucket gone).
    async fn ping(&self) -> Result<(), StoreError> {
        self.probe().await.map_err(|failure| {
            let what = self.what("LIST (ping)", None);
            match failure {
                Failure::Status { status: 404, .. } => StoreError::Unavailable(
                    failure
                        .into_error()
                        .context(format!("the bucket {:?} does not exist", self.bucket.name))
                        .context(what),
                ),
                failure => StoreError::Unavailable(failure.into_error().context(what)),
            }
        })
    }
}

/// How one request failed.
#[derive(Debug)]
enum Failure {
    /// The server answered with an error status.
    Status {
        status: u16,
        /// The S3 error code (`NoSuchKey`, `AccessDenied`…), when the body had one.
        code: Option<String>,
        message: String,
    },
    /// No answer: refused, reset, timed out, cut off.
    Unreachable(anyhow::Error),
    /// Anything else: a reply we cannot read, a request we could not build.
    Other(anyhow::Error),
}

/// rust-s3's errors: from signing the request and making its URL, nothing sent yet.
impl From<S3Error> for Failure {
    fn from(error: S3Error) -> Self {
        match error {
            S3Error::HttpFailWithBody(status, body) => Self::from_error_body(status, &body),
            S3Error::Io(error) if is_connection_error(&error) => Self::Unreachable(error.into()),
            other => Self::Other(other.into()),
        }
    }
}

impl Failure {
    /// An error status and its body, an S3 error document (`<Code>`, `<Message>`) or not.
    fn from_error_body(status: u16, body: &str) -> Self {
        let code = xml_element(body, "Code");
        // Without an S3 error document (a proxy's page, say), show its beginning.
        let message = xml_element(body, "Message").unwrap_or_else(|| {
            if code.is_some() {
                String::new()
            } else {
                body.chars().take(200).collect()
            }
        });
        Self::Status {
            status,
            code,
            message,
        }
    }

    fn into_error(self) -> anyhow::Error {
        match self {
            Self::Status {
                status,
                code,
                message,
            } => {
                let code = code.map(|code| format!(" {code}")).unwrap_or_default();
                if message.is_empty() {
                    anyhow!("HTTP {status}{code}")
                } else {
                    anyhow!("HTTP {status}{code}: {message}")
                }
            }
            Self::Unreachable(error) | Self::Other(error) => error,
        }
    }

    /// Connection failures, timeouts and 5xx are `Unavailable`; anything else is `Other`.
    fn into_store_error(self, what: String) -> StoreError {
        let unavailable = match &self {
            Self::Status { status, .. } => *status >= 500,
            Self::Unreachable(_) => true,
            Self::Other(_) => false,
        };
        let error = self.into_error().context(what);
        if unavailable {
            StoreError::Unavailable(error)
        } else {
            StoreError::Other(error)
        }
    }
}

fn is_connection_error(error: &io::Error) -> bool {
    use io::ErrorKind::{
        BrokenPipe, ConnectionAborted, ConnectionRefused, ConnectionReset, NotConnected, TimedOut,
        UnexpectedEof,
    };
    matches!(
        error.kind(),
        BrokenPipe
            | ConnectionAborted
            | ConnectionRefused
            | ConnectionReset
            | NotConnected
            | TimedOut
            | UnexpectedEof
    )
}

/// The text of the first `<name>…</name>` in an S3 error body.
fn xml_element(body: &str, name: &str) -> Option<String> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let len = body[start..].find(&format!("</{name}>"))?;
    Some(body[start..start + len].trim().to_owned()).filter(|text| !text.is_empty())
}

/// The ETag as a quoted strong validator; `None` for a weak or empty one.
fn strong_etag(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.starts_with("W/") {
        return None;
    }
    let inner = raw.trim_matches('"');
    (!inner.is_empty()).then(|| format!("\"{inner}\""))
}

/// Passes the body on; fails with `TimedOut` when no chunk arrives for `idle`. A slow reader
/// is not cut off: the clock only runs while the consumer waits for the next chunk.
fn stalling_after<S, E>(stream: S, idle: Duration) -> ByteStream
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let stream = Box::pin(stream);
    Box::pin(futures_util::stream::unfold(
        Some(stream),
        move |state| async move {
            let mut stream = state?;
            match tokio::time::timeout(idle, stream.next()).await {
                Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(stream))),
                Ok(Some(Err(error))) => Some((Err(io::Error::other(error)), None)),
                Ok(None) => None,
                Err(_elapsed) => Some((
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the object store sent nothing for {idle:?}"),
                    )),
                    None,
                )),
            }
        },
    ))
}

/// `http(s)://host[:port]` from `S3_ENDPOINT`; a path would be dropped by rust-s3's
/// path-style URLs, so it is refused rather than ignored.
fn normalize_endpoint(raw: &str) -> anyhow::Result<String> {
    let invalid = || format!("S3_ENDPOINT {raw:?} is not an http:// or https:// URL");
    let url = Url::parse(raw.trim()).with_context(invalid)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!(invalid());
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("S3_ENDPOINT must not carry credentials; use S3_ACCESS_KEY and S3_SECRET_KEY");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        bail!(
            "S3_ENDPOINT {:?} must be the server's base URL without a path, like \
             http://minio:9000 (the bucket goes into S3_BUCKET)",
            url.as_str()
        );
    }
    Ok(url.origin().ascii_serialization())
}

/// S3's bucket naming rules, checked here so that a typo is reported as such.
fn check_bucket_name(name: &str) -> anyhow::Result<()> {
    let bytes = name.as_bytes();
    let valid = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && !name.contains("..");
    if !valid {
        bail!(
            "S3_BUCKET {name:?} is not a valid bucket name: 3 to 63 characters of a-z, 0-9, \
             '.' and '-', starting and ending with a letter or digit"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str, bucket: &str) -> S3Settings {
        S3Settings {
            endpoint: endpoint.to_owned(),
            bucket: bucket.to_owned(),
            region: "us-east-1".to_owned(),
            access_key: "access".to_owned(),
            secret_key: SecretString::from("very-secret-value"),
        }
    }

    #[test]
    fn endpoints_are_reduced_to_their_origin() {
        for (raw, expected) in [
            ("http://localhost:9000", "http://localhost:9000"),
            ("http://localhost:9000/", "http://localhost:9000"),
            ("https://s3.example.com", "https://s3.example.com"),
            ("https://s3.example.com:443/", "https://s3.example.com"),
            ("http://[::1]:9000", "http://[::1]:9000"),
        ] {
            assert_eq!(
                normalize_endpoint(raw).ok().as_deref(),
                Some(expected),
                "{raw}"
            );
        }
    }

    #[test]
    fn unusable_settings_are_named_in_the_error() {
        let cases = [
            (settings("minio:9000", "pictures"), "S3_ENDPOINT"),
            (settings("ftp://minio", "pictures"), "S3_ENDPOINT"),
            (
                settings("http://minio:9000/pictures", "pictures"),
                "S3_ENDPOINT",
            ),
            (settings("http://u:p@minio:9000", "pictures"), "S3_ENDPOINT"),
            (settings("http://minio:9000", "Pictures"), "S3_BUCKET"),
            (settings("http://minio:9000", "ab"), "S3_BUCKET"),
            (settings("http://minio:9000", "-pictures"), "S3_BUCKET"),
            (
                S3Settings {
                    region: " ".to_owned(),
                    ..settings("http://minio:9000", "pictures")
                },
                "S3_REGION",
            ),
            (
                S3Settings {
                    access_key: String::new(),
                    ..settings("http://minio:9000", "pictures")
                },
                "S3_ACCESS_KEY",
            ),
            (
                S3Settings {
                    secret_key: SecretString::from(""),
                    ..settings("http://minio:9000", "pictures")
                },
                "S3_SECRET_KEY",
            ),
        ];
        for (settings, setting) in cases {
            let described = format!("{settings:?}");
            let error = S3ObjectStore::new(settings).expect_err(&described);
            let message = format!("{error:#}");
            assert!(message.contains(setting), "{described}: {message}");
        }
    }

    #[test]
    fn neither_settings_nor_store_show_the_secret() {
        let settings = settings("http://minio:9000", "pictures");
        assert!(!format!("{settings:?}").contains("very-secret-value"));
        let store = S3ObjectStore::new(settings).expect("valid settings");
        let shown = format!("{store:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("http://minio:9000"), "{shown}");
    }

    #[test]
    fn s3_error_bodies_give_their_code_and_message() {
        let body = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>\
                    <Message>The specified key does not exist.</Message></Error>";
        assert_eq!(xml_element(body, "Code").as_deref(), Some("NoSuchKey"));
        assert_eq!(
            xml_element(body, "Message").as_deref(),
            Some("The specified key does not exist.")
        );
        assert_eq!(xml_element("", "Code"), None);
        assert_eq!(xml_element("<Code></Code>", "Code"), None);
    }

    #[test]
    fn etags_are_quoted_strong_validators() {
        assert_eq!(strong_etag("\"abc\"").as_deref(), Some("\"abc\""));
        assert_eq!(strong_etag("abc").as_deref(), Some("\"abc\""));
        assert_eq!(strong_etag("W/\"abc\""), None);
        assert_eq!(strong_etag("\"\""), None);
    }

    #[test]
    fn statuses_map_to_unavailable_only_for_5xx() {
        let status = |status| Failure::Status {
            status,
            code: None,
            message: String::new(),
        };
        assert!(matches!(
            status(503).into_store_error(String::new()),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            status(403).into_store_error(String::new()),
            StoreError::Other(_)
        ));
        assert!(matches!(
            Failure::Unreachable(anyhow!("refused")).into_store_error(String::new()),
            StoreError::Unavailable(_)
        ));
    }
}

#[cfg(all(test, feature = "test-support"))]
mod against_s3s_fs {
    use super::*;
    use crate::TestS3Server;
    use um_domain::model::PictureFormat;

    #[tokio::test]
    async fn list_follows_the_continuation_tokens() {
        let server = TestS3Server::start().await;
        let mut store = S3ObjectStore::connect(server.settings("paged"))
            .await
            .expect("connect");
        store.list_page_size = 2;
        let mut keys: Vec<String> = Vec::new();
        for _ in 0..5 {
            let key = PictureKey::generate(PictureFormat::Jpeg);
            store
                .put(&key, Bytes::from_static(b"x"))
                .await
                .expect("put");
            keys.push(key.to_string());
        }

        let mut listed = crate::listed_keys(&store).await;

        keys.sort();
        listed.sort();
        assert_eq!(listed, keys);
    }

    #[tokio::test]
    async fn error_messages_say_what_failed() {
        let mut server = TestS3Server::start().await;
        let store = S3ObjectStore::connect(server.settings("messages"))
            .await
            .expect("connect");
        server.stop();
        let key = PictureKey::generate(PictureFormat::Png);

        let error = store
            .put(&key, Bytes::from_static(b"x"))
            .await
            .expect_err("stopped");
        let chain = format!("{:#}", anyhow::Error::new(error));

        assert!(chain.contains("unavailable"), "{chain}");
        assert!(
            chain.contains(&format!("PUT s3://messages/{key}")),
            "{chain}"
        );
        assert!(chain.contains(&server.endpoint()), "{chain}");
    }
}

#[cfg(test)]
mod body_stream {
    use super::*;

    #[tokio::test]
    async fn a_stalled_body_fails_with_timed_out() {
        let stalled = futures_util::stream::pending::<Result<Bytes, io::Error>>();
        let mut body = stalling_after(stalled, Duration::from_millis(50));

        let error = body.next().await.expect("an item").expect_err("a timeout");

        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(
            body.next().await.is_none(),
            "the stream ends after the error"
        );
    }

    #[tokio::test]
    async fn chunks_pass_through_unchanged() {
        let chunks = futures_util::stream::iter([
            Ok::<_, io::Error>(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"c")),
        ]);
        let body = stalling_after(chunks, Duration::from_secs(1));

        let all: Vec<Bytes> = body.map(|chunk| chunk.expect("chunk")).collect().await;

        assert_eq!(
            all,
            vec![Bytes::from_static(b"ab"), Bytes::from_static(b"c")]
        );
    }
}
