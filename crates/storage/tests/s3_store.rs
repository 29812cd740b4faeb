//! The S3 store against the real s3s-fs server (`TestS3Server`): the shared suite
//! (`common/s3.rs`, also run against moto's server) and what only s3s-fs can show: outages and
//! restarts that keep the data, and signatures that are checked.

mod common;
#[path = "common/s3.rs"]
mod s3_suite;

use std::time::{Duration, Instant};

use common::{picture_bytes, read_all};
use s3_suite::BUCKET;
use secrecy::SecretString;
use um_domain::{
    model::{PictureFormat, PictureKey},
    ports::{ObjectStore, StoreError},
};
use um_storage::{S3ObjectStore, S3Settings, TestS3Server};

s3_suite::s3_server_suite!(TestS3Server::start);

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
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

/// Runs `request` `rounds` times in a row; the total and the per-request times (ms, sorted).
async fn time_sequentially<F, Fut>(rounds: usize, mut request: F) -> (Duration, Vec<u128>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    let mut each = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let one = Instant::now();
        request().await;
        each.push(one.elapsed().as_millis());
    }
    each.sort_unstable();
    (started.elapsed(), each)
}

/// Issue #17: s3s-fs does not set `TCP_NODELAY` on the connections it accepts, and writes a GET
/// reply's headers and body in two writes whenever the body is not read from disk by the time
/// the headers go out. On a kept-alive connection Nagle's algorithm then held the body until the
/// client's delayed ACK of the headers, 40 ms later. On an idle s3s-fs 30 to 60 % of the GETs
/// stalled so (the delayed-ACK timer firing takes the connection out of ping-pong mode for an
/// exchange or two): 100 small GETs took 1.3 to 3 s. Without the wait they take well under
/// 100 ms; 40 ms or more for one of them is the stall's signature, a few are tolerated for a
/// loaded machine.
#[tokio::test]
async fn sequential_small_gets_do_not_wait_for_delayed_acks() {
    let server = TestS3Server::start().await;
    let store = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect");
    let key = PictureKey::generate(PictureFormat::Png);
    let bytes = picture_bytes(2_000);
    store.put(&key, bytes.clone()).await.expect("put");

    let (total, each) = time_sequentially(100, || async {
        let object = store.get(&key).await.expect("get").expect("the object");
        assert!(read_all(object).await == bytes);
    })
    .await;

    let stalled = each.iter().filter(|&&ms| ms >= 40).count();
    assert!(
        total < Duration::from_secs(1) && stalled < 5,
        "100 sequential GETs of 2 kB took {total:?}, {stalled} of them 40 ms or more; \
         per GET (ms, sorted): {each:?}"
    );
}

/// The other calls, which s3s-fs answers in one write (so they never waited), must not wait
/// either: PUT, LIST, ping, and the 404 of GET and DELETE.
#[tokio::test]
async fn sequential_small_puts_lists_and_misses_do_not_wait() {
    const ROUNDS: usize = 20;
    let server = TestS3Server::start().await;
    let store = S3ObjectStore::connect(server.settings(BUCKET))
        .await
        .expect("connect");
    let key = PictureKey::generate(PictureFormat::Jpeg);
    let bytes = picture_bytes(2_000);
    let missing = PictureKey::generate(PictureFormat::Png);

    let puts = time_sequentially(ROUNDS, || async {
        store.put(&key, bytes.clone()).await.expect("put");
    })
    .await;
    let lists = time_sequentially(ROUNDS, || async {
        assert_eq!(store.list().await.expect("list").len(), 1);
    })
    .await;
    let pings = time_sequentially(ROUNDS, || async {
        store.ping().await.expect("ping");
    })
    .await;
    let misses = time_sequentially(ROUNDS, || async {
        assert!(store.get(&missing).await.expect("get").is_none());
        store.delete(&missing).await.expect("delete");
    })
    .await;

    for (what, (total, each)) in [
        ("PUTs", puts),
        ("LISTs", lists),
        ("pings", pings),
        ("GET+DELETE of a missing key", misses),
    ] {
        assert!(
            total < Duration::from_secs(1),
            "{ROUNDS} sequential {what} took {total:?}; each (ms, sorted): {each:?}"
        );
    }
}
