//! The directory store, in a fresh temporary directory per test.

mod common;

use std::{fs, path::Path};

use common::{Fixture, object_store_contract, picture_bytes};
use tempfile::TempDir;
use um_domain::{
    model::{PictureFormat, PictureKey},
    ports::{ObjectStore, StoreError},
};
use um_storage::DirectoryObjectStore;

async fn directory_store() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = DirectoryObjectStore::new(dir.path()).expect("store");
    Fixture::new(store, dir)
}

object_store_contract!(directory_store);

fn new_store() -> (TempDir, DirectoryObjectStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = DirectoryObjectStore::new(dir.path().join("pictures")).expect("store");
    (dir, store)
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn new_creates_the_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("a").join("b");

    let store = DirectoryObjectStore::new(&root).expect("store");

    assert!(root.is_dir());
    store.ping().await.expect("ping");
}

#[tokio::test]
async fn a_leftover_temporary_file_is_neither_listed_nor_served() {
    let (_dir, store) = new_store();
    let key = PictureKey::generate(PictureFormat::Jpeg);
    // What a crash in the middle of `put` leaves behind.
    fs::write(
        store.root().join(format!(".tmp-0123456789abcdef-{key}")),
        b"half",
    )
    .expect("write");

    assert_eq!(store.list().await.expect("list"), vec![]);
    assert!(store.get(&key).await.expect("get").is_none());
}

#[tokio::test]
async fn put_leaves_exactly_the_object_behind() {
    let (_dir, store) = new_store();
    let key = PictureKey::generate(PictureFormat::Png);
    let bytes = picture_bytes(4096);

    store.put(&key, bytes.clone()).await.expect("put");

    assert_eq!(file_names(store.root()), vec![key.to_string()]);
    assert!(fs::read(store.root().join(key.as_str())).expect("read") == bytes);
}

#[tokio::test]
async fn foreign_files_are_listed_but_directories_are_not() {
    let (_dir, store) = new_store();
    fs::write(store.root().join("notes.txt"), b"x").expect("write");
    fs::create_dir(store.root().join("sub")).expect("mkdir");

    let listed = um_storage::listed_keys(&store).await;

    assert_eq!(listed, vec!["notes.txt".to_owned()]);
}

#[test]
fn no_key_can_name_a_file_outside_the_root() {
    let stem = "0123456789abcdef0123456789abcdef";
    for raw in [
        format!("../{stem}.jpg"),
        format!("/{stem}.jpg"),
        format!("/etc/{stem}.jpg"),
        format!("{stem}/../../x.jpg"),
        format!("..\\{stem}.jpg"),
        format!("{stem}.jpg/.."),
        format!(".{stem}.jpg"),
        format!("{stem}.jpg\0"),
        "..".to_owned(),
        ".".to_owned(),
        String::new(),
    ] {
        assert!(
            PictureKey::parse(&raw).is_err(),
            "{raw:?} was accepted as a key"
        );
    }
    for _ in 0..100 {
        let key = PictureKey::generate(PictureFormat::Jpeg);
        let (stem, extension) = key.as_str().split_once('.').expect("an extension");
        assert!(
            stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit()) && extension == "jpg",
            "{key}"
        );
    }
}

#[tokio::test]
async fn a_removed_directory_makes_the_store_unavailable() {
    let (_dir, store) = new_store();
    fs::remove_dir_all(store.root()).expect("remove");
    let key = PictureKey::generate(PictureFormat::Jpeg);

    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.put(&key, picture_bytes(10)).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.list().await,
        Err(StoreError::Unavailable(_))
    ));
}
