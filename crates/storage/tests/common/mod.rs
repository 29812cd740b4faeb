//! The behaviour every [`ObjectStore`] shares, written once. A test file runs all of it against
//! one store with `object_store_contract!(fixture_fn)`, where `fixture_fn` is an `async fn()
//! -> Fixture`.

use std::{any::Any, time::Duration};

use bytes::Bytes;
use chrono::Utc;
use futures_util::TryStreamExt as _;
use um_domain::{
    model::{PictureFormat, PictureKey},
    ports::{ObjectStore, StoredObject},
};

/// A store and whatever must live as long as it (a server, a temporary directory).
pub struct Fixture {
    pub store: Box<dyn ObjectStore>,
    _keep: Box<dyn Any + Send>,
}

impl Fixture {
    pub fn new(store: impl ObjectStore + 'static, keep: impl Any + Send) -> Self {
        Self {
            store: Box::new(store),
            _keep: Box::new(keep),
        }
    }
}

/// Bytes that are not the same from one call to the next, big enough for several chunks.
pub fn picture_bytes(len: usize) -> Bytes {
    let seed = rand::random::<u8>();
    (0..len)
        .map(|i| u8::try_from(i % 251).unwrap_or_default() ^ seed)
        .collect::<Vec<_>>()
        .into()
}

pub async fn read_all(object: StoredObject) -> Vec<u8> {
    object
        .body
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .expect("the body streams without error")
}

pub async fn put_then_get_returns_the_same_bytes_content_type_and_an_etag(store: &dyn ObjectStore) {
    for (format, len) in [(PictureFormat::Jpeg, 300_000), (PictureFormat::Png, 1_234)] {
        let key = PictureKey::generate(format);
        let bytes = picture_bytes(len);

        store.put(&key, bytes.clone()).await.expect("put");
        let object = store
            .get(&key)
            .await
            .expect("get")
            .expect("the object just put");

        assert_eq!(object.content_type, format.content_type(), "{key}");
        assert!(
            object.etag.len() > 2 && object.etag.starts_with('"') && object.etag.ends_with('"'),
            "{key}: the ETag {:?} is not a quoted, non-empty validator",
            object.etag
        );
        assert_eq!(object.length, Some(len as u64), "{key}");
        assert!(
            read_all(object).await == bytes,
            "{key}: other bytes came back"
        );
    }
}

pub async fn get_of_a_missing_key_is_none(store: &dyn ObjectStore) {
    let key = PictureKey::generate(PictureFormat::Jpeg);
    assert!(store.get(&key).await.expect("get").is_none());
}

pub async fn the_etag_stays_the_same_between_reads(store: &dyn ObjectStore) {
    let key = PictureKey::generate(PictureFormat::Png);
    store.put(&key, picture_bytes(1000)).await.expect("put");
    let first = store.get(&key).await.expect("get").expect("stored").etag;
    let second = store.get(&key).await.expect("get").expect("stored").etag;
    assert_eq!(first, second);
}

pub async fn delete_removes_and_deleting_again_is_ok(store: &dyn ObjectStore) {
    let key = PictureKey::generate(PictureFormat::Jpeg);
    let other = PictureKey::generate(PictureFormat::Jpeg);
    store.put(&key, picture_bytes(100)).await.expect("put");
    store.put(&other, picture_bytes(100)).await.expect("put");

    store.delete(&key).await.expect("delete");
    assert!(
        store.get(&key).await.expect("get").is_none(),
        "still there after delete"
    );
    store
        .delete(&key)
        .await
        .expect("deleting an absent object is not an error");
    assert!(
        store.get(&other).await.expect("get").is_some(),
        "deleting one object removed another"
    );
}

pub async fn list_shows_the_keys_with_a_recent_last_modified(store: &dyn ObjectStore) {
    let before = Utc::now() - Duration::from_secs(5);
    let keys = [
        PictureKey::generate(PictureFormat::Jpeg),
        PictureKey::generate(PictureFormat::Png),
        PictureKey::generate(PictureFormat::Jpeg),
    ];
    for key in &keys {
        store.put(key, picture_bytes(10)).await.expect("put");
    }
    let after = Utc::now() + Duration::from_secs(5);

    let listed = store.list().await.expect("list");

    for key in &keys {
        let info = listed
            .iter()
            .find(|info| info.key == key.as_str())
            .unwrap_or_else(|| panic!("{key} is not listed in {listed:?}"));
        assert!(
            (before..=after).contains(&info.last_modified),
            "{key}: last modified {} is not around now",
            info.last_modified
        );
    }
    assert_eq!(
        listed.len(),
        keys.len(),
        "listed more than was put: {listed:?}"
    );
}

pub async fn list_of_an_empty_store_is_empty(store: &dyn ObjectStore) {
    assert_eq!(store.list().await.expect("list"), vec![]);
}

pub async fn ping_answers(store: &dyn ObjectStore) {
    store.ping().await.expect("ping");
}

/// Generates one test per contract item for the store that `$fixture().await` makes.
macro_rules! object_store_contract {
    ($fixture:path) => {
        mod contract {
            use super::*;

            #[tokio::test]
            async fn put_then_get_returns_the_same_bytes_content_type_and_an_etag() {
                let fixture = $fixture().await;
                common::put_then_get_returns_the_same_bytes_content_type_and_an_etag(
                    &*fixture.store,
                )
                .await;
            }

            #[tokio::test]
            async fn get_of_a_missing_key_is_none() {
                let fixture = $fixture().await;
                common::get_of_a_missing_key_is_none(&*fixture.store).await;
            }

            #[tokio::test]
            async fn the_etag_stays_the_same_between_reads() {
                let fixture = $fixture().await;
                common::the_etag_stays_the_same_between_reads(&*fixture.store).await;
            }

            #[tokio::test]
            async fn delete_removes_and_deleting_again_is_ok() {
                let fixture = $fixture().await;
                common::delete_removes_and_deleting_again_is_ok(&*fixture.store).await;
            }

            #[tokio::test]
            async fn list_shows_the_keys_with_a_recent_last_modified() {
                let fixture = $fixture().await;
                common::list_shows_the_keys_with_a_recent_last_modified(&*fixture.store).await;
            }

            #[tokio::test]
            async fn list_of_an_empty_store_is_empty() {
                let fixture = $fixture().await;
                common::list_of_an_empty_store_is_empty(&*fixture.store).await;
            }

            #[tokio::test]
            async fn ping_answers() {
                let fixture = $fixture().await;
                common::ping_answers(&*fixture.store).await;
            }
        }
    };
}
pub(crate) use object_store_contract;
