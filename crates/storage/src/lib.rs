//! Object-store adapters: where profile pictures are kept. Both implement the domain's
//! [`ObjectStore`](um_domain::ports::ObjectStore) port and behave alike (the same contract tests
//! run against both):
//!
//! - [`S3ObjectStore`]: an S3 bucket (MinIO, s3s-fs, AWS…), requests signed by rust-s3 and sent
//!   by hyper, path-style addressing, created on [`S3ObjectStore::connect`] when missing.
//! - [`DirectoryObjectStore`]: a local directory, the embedded default when no S3 endpoint is
//!   configured.
//!
//! With the feature `test-support`, [`TestS3Server`] runs a real S3 server for tests: the
//! `s3s-fs` binary or moto's server.

mod directory;
mod s3;
#[cfg(feature = "test-support")]
mod test_support;

pub use directory::DirectoryObjectStore;
pub use s3::{DEFAULT_REQUEST_TIMEOUT, S3ObjectStore, S3Settings};
#[cfg(feature = "test-support")]
pub use test_support::{MOTO_INSTALL, S3Implementation, S3S_FS_INSTALL, TestS3Server, listed_keys};

/// The ETag of an object whose key names its bytes: `"<key>"`.
///
/// Valid as a *strong* validator because a picture key is 128 fresh random bits made for one
/// upload ([`PictureKey::generate`](um_domain::model::PictureKey::generate)), never reused, and
/// the object under it is written once and never rewritten: equal keys mean equal bytes. It is
/// also stable across restores and copies, and costs nothing to compute.
fn key_etag(key: &um_domain::model::PictureKey) -> String {
    format!("\"{}\"", key.as_str())
}
