//! The S3 store against the real s3s-fs server (`TestS3Server`).

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, object_store_contract, picture_bytes, read_all};
use s3::{Bucket, Region, creds::Credentials};
use secrecy::SecretString;
use um_domain::{
    model::{PictureFormat, PictureKey},
    ports::{ObjectStore, StoreError},
};
use um_storage::{S3ObjectStore, S3Settings, TestS3Server};

const BUCKET: &str = "profile-pictures";

async fn s3_store() -> Fixture {
    let server = TestS3Server::start().await;
    let store = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect to s3s-fs");
    Fixture::new(store, server)
}

object_store_contract!(s3_store);

/// rust-s3's own client on the same bucket, to look at what the store wrote.
fn raw_bucket(server: &TestS3Server) -> Box<Bucket> {
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

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_creates_the_missing_bucket() {
    let server = TestS3Server::start().await;
    assert!(!server.data_dir().join(BUCKET).exists());

    S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect");

    assert!(
        server.data_dir().join(BUCKET).is_dir(),
        "no bucket was created"
    );
}

#[tokio::test]
async fn connect_twice_to_the_same_bucket_works_and_keeps_its_objects() {
    let server = TestS3Server::start().await;
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

#[tokio::test]
async fn put_stores_the_content_type_and_cache_control_in_the_bucket() {
    // What a browser gets when it reads the bucket directly (S3_PUBLIC_URL).
    let server = TestS3Server::start().await;
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

#[tokio::test]
async fn get_passes_on_the_etag_of_the_bucket() {
    let fixture = TestS3Server::start().await;
    let store = S3ObjectStore::connect(fixture.settings(BUCKET))
        .await
        .expect("connect");
    let key = PictureKey::generate(PictureFormat::Png);
    store.put(&key, picture_bytes(64)).await.expect("put");

    let object = store.get(&key).await.expect("get").expect("stored");
    let (head, _) = raw_bucket(&fixture)
        .head_object(key.as_str())
        .await
        .expect("head");

    assert_eq!(Some(object.etag), head.e_tag);
}

#[tokio::test]
async fn with_the_server_stopped_every_operation_is_unavailable_within_seconds() {
    let mut server = TestS3Server::start().await;
    let store = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect");
    let key = PictureKey::generate(PictureFormat::Jpeg);
    store.put(&key, picture_bytes(10)).await.expect("put");
    server.stop();

    let started = Instant::now();
    assert_unavailable(store.put(&key, picture_bytes(10)).await, "put");
    assert_unavailable(store.get(&key).await, "get");
    assert_unavailable(store.delete(&key).await, "delete");
    assert_unavailable(store.list().await, "list");
    assert_unavailable(store.ping().await, "ping");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failing took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_store_works_again_once_the_server_is_back() {
    let mut server = TestS3Server::start().await;
    let store = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect");
    let key = PictureKey::generate(PictureFormat::Jpeg);
    let bytes = picture_bytes(1000);
    store.put(&key, bytes.clone()).await.expect("put");
    server.stop();
    assert_unavailable(store.ping().await, "ping while stopped");

    server.start_again().await;

    store.ping().await.expect("ping after the restart");
    let object = store
        .get(&key)
        .await
        .expect("get")
        .expect("the data survived");
    assert!(read_all(object).await == bytes);
}

#[tokio::test]
async fn a_server_that_never_answers_is_unavailable_after_the_timeout() {
    // Accepts connections (the kernel does, from the backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", silent.local_addr().expect("address"));
    let settings = S3Settings {
        endpoint,
        bucket: BUCKET.to_owned(),
        region: "us-east-1".to_owned(),
        access_key: "access".to_owned(),
        secret_key: SecretString::from("secret"),
    };
    let store = S3ObjectStore::new(settings.clone())
        .expect("valid settings")
        .with_timeout(Duration::from_millis(500));
    let key = PictureKey::generate(PictureFormat::Png);

    let started = Instant::now();
    assert_unavailable(store.put(&key, picture_bytes(10)).await, "put");
    assert_unavailable(store.get(&key).await, "get");
    assert_unavailable(store.ping().await, "ping");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    drop(silent);
}

#[tokio::test]
async fn connect_to_a_closed_port_says_the_store_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let settings = S3Settings {
        endpoint: format!("http://127.0.0.1:{port}"),
        bucket: BUCKET.to_owned(),
        region: "us-east-1".to_owned(),
        access_key: "access".to_owned(),
        secret_key: SecretString::from("closed-port-secret"),
    };

    let started = Instant::now();
    let error = S3ObjectStore::connect(settings)
        .await
        .expect_err("nothing listens there");

    let message = format!("{error:#}");
    assert!(message.contains("unreachable"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("closed-port-secret"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connect_with_a_wrong_secret_names_the_credentials_and_not_the_secret() {
    let server = TestS3Server::start().await;
    let settings = S3Settings {
        secret_key: SecretString::from("wrong-secret-do-not-print"),
        ..server.settings(BUCKET)
    };

    let error = S3ObjectStore::connect(settings)
        .await
        .expect_err("the server refuses the signature");

    let message = format!("{error:#} {error:?}");
    assert!(message.contains("S3_SECRET_KEY"), "{message}");
    assert!(!message.contains("wrong-secret-do-not-print"), "{message}");
    assert!(!message.contains(server.secret_key()), "{message}");
}

#[tokio::test]
async fn a_bucket_removed_behind_the_stores_back_fails_ping() {
    // (A GET would not tell: s3s-fs answers NoSuchKey, not NoSuchBucket, when the bucket is
    // gone; MinIO and S3 say NoSuchBucket, which `get` reports as an error, not as `None`.)
    let server = TestS3Server::start().await;
    let store = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect");
    std::fs::remove_dir_all(server.data_dir().join(BUCKET)).expect("remove the bucket");

    let error = store.ping().await.expect_err("the bucket is gone");

    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(format!("{error:?}").contains("does not exist"), "{error:?}");
}
