//! The S3 store against moto's server, an S3 implementation written independently of s3s-fs
//! (Python, in memory), so that the adapter is not tuned to one server's leniency. moto accepts
//! any credentials and loses its data on a restart: the tests of wrong secrets and of restarts
//! run against s3s-fs only (`s3_store.rs`).

mod common;
#[path = "common/s3.rs"]
mod s3_suite;

use um_storage::TestS3Server;

s3_suite::s3_server_suite!(TestS3Server::start_moto);

#[tokio::test]
async fn the_server_is_moto() {
    let server = TestS3Server::start_moto().await;
    assert_eq!(server.implementation(), um_storage::S3Implementation::Moto);
    // moto answers its own dashboard API; s3s-fs knows no such path.
    let answer = reqwest::get(format!("{}/moto-api/data.json", server.endpoint()))
        .await
        .expect("moto answers");
    assert!(answer.status().is_success(), "{}", answer.status());
}
