//! What the S3 store must do against any S3 server, written once and run against each real
//! server the tests have (`s3s-fs` and moto's) with `s3_server_suite!(start_fn)`, where
//! `start_fn` is an `async fn() -> TestS3Server`. Included only by the S3 test files.

use s3::{Bucket, Region, creds::Credentials};
use um_domain::{
    model::{PictureFormat, PictureKey},
    ports::{ObjectStore, StoreError},
};
use um_storage::{S3ObjectStore, TestS3Server};

use crate::common::{Fixture, picture_bytes};

pub const BUCKET: &str = "profile-pictures";

/// A store on a fresh server, as the object-store contract wants it.
pub async fn fixture(server: TestS3Server) -> Fixture {
    let store = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect to the S3 server");
    Fixture::new(store, server)
}

/// rust-s3's own client on the same bucket, to look at what the store wrote.
pub fn raw_bucket(server: &TestS3Server) -> Box<Bucket> {
    let region = Region::Custom {
        region: "us-east-1".to_owned(),
        endpoint: server.endpoint(),
    };
    let credentials = Credentials::new(
        Some(server.access_key()),
        Some(server.secret_key()),
        None,
        None,
        None,
    )
    .expect("credentials");
    Bucket::new(BUCKET, region, credentials)
        .expect("bucket")
        .with_path_style()
}

/// Whether the bucket exists: a listing of it answers, or 404. (rust-s3's `Bucket::exists` reads
/// the list of all buckets, whose `Owner` s3s-fs leaves out.)
pub async fn bucket_exists(server: &TestS3Server) -> bool {
    match raw_bucket(server)
        .list_page(String::new(), None, None, None, Some(1))
        .await
    {
        Ok(_) => true,
        Err(s3::error::S3Error::HttpFailWithBody(404, _)) => false,
        Err(error) => panic!("could not ask for the bucket: {error}"),
    }
}

pub async fn connect_creates_the_missing_bucket(server: TestS3Server) {
    assert!(
        !bucket_exists(&server).await,
        "a fresh server has no bucket"
    );

    S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect");

    assert!(bucket_exists(&server).await, "no bucket was created");
}

pub async fn connect_twice_to_the_same_bucket_works_and_keeps_its_objects(server: TestS3Server) {
    let first = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("first connect");
    let key = PictureKey::generate(PictureFormat::Jpeg);
    first.put(&key, picture_bytes(10)).await.expect("put");

    let second = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("second connect, the bucket exists already");

    assert!(second.get(&key).await.expect("get").is_some());
}

/// What a browser gets when it reads the bucket directly (`S3_PUBLIC_URL`).
pub async fn put_stores_the_content_type_and_cache_control_in_the_bucket(server: TestS3Server) {
    let store = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect");
    for format in [PictureFormat::Jpeg, PictureFormat::Png] {
        let key = PictureKey::generate(format);
        store.put(&key, picture_bytes(50)).await.expect("put");

        let (head, status) = raw_bucket(&server)
            .head_object(key.as_str())
            .await
            .expect("head");

        assert_eq!(status, 200);
        assert_eq!(head.content_type.as_deref(), Some(format.content_type()));
        assert_eq!(
            head.cache_control.as_deref(),
            Some("public, max-age=31536000, immutable")
        );
    }
}

pub async fn get_passes_on_the_etag_of_the_bucket(server: TestS3Server) {
    let store = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect");
    let key = PictureKey::generate(PictureFormat::Png);
    store.put(&key, picture_bytes(64)).await.expect("put");

    let object = store.get(&key).await.expect("get").expect("stored");
    let (head, _) = raw_bucket(&server)
        .head_object(key.as_str())
        .await
        .expect("head");

    assert_eq!(Some(object.etag), head.e_tag);
}

/// Removed through the S3 API itself, as an operator's `mc rb` would.
pub async fn a_bucket_removed_behind_the_stores_back_fails_ping(server: TestS3Server) {
    let store = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect");
    raw_bucket(&server)
        .delete()
        .await
        .expect("remove the empty bucket");

    let error = store.ping().await.expect_err("the bucket is gone");

    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(format!("{error:?}").contains("does not exist"), "{error:?}");
}

/// The object-store contract and the S3 checks above, for the server `$start().await` runs.
macro_rules! s3_server_suite {
    ($start:path) => {
        async fn contract_fixture() -> common::Fixture {
            s3_suite::fixture($start().await).await
        }

        common::object_store_contract!(contract_fixture);

        mod s3_protocol {
            use super::*;

            #[tokio::test]
            async fn connect_creates_the_missing_bucket() {
                s3_suite::connect_creates_the_missing_bucket($start().await).await;
            }

            #[tokio::test]
            async fn connect_twice_to_the_same_bucket_works_and_keeps_its_objects() {
                s3_suite::connect_twice_to_the_same_bucket_works_and_keeps_its_objects(
                    $start().await,
                )
                .await;
            }

            #[tokio::test]
            async fn put_stores_the_content_type_and_cache_control_in_the_bucket() {
                s3_suite::put_stores_the_content_type_and_cache_control_in_the_bucket(
                    $start().await,
                )
                .await;
            }

            #[tokio::test]
            async fn get_passes_on_the_etag_of_the_bucket() {
                s3_suite::get_passes_on_the_etag_of_the_bucket($start().await).await;
            }

            #[tokio::test]
            async fn a_bucket_removed_behind_the_stores_back_fails_ping() {
                s3_suite::a_bucket_removed_behind_the_stores_back_fails_ping($start().await).await;
            }
        }
    };
}
pub(crate) use s3_server_suite;
