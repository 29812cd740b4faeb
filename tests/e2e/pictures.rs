//! Profile pictures end to end, against the directory store and a real S3-compatible server.

use image::ImageFormat;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, id_of, image_bytes, json_of, upload};

/// The path part of a picture URL (`/pictures/<key>`) when it points at this service.
fn path_of<'a>(app: &TestApp, url: &'a Value) -> &'a str {
    let url = url.as_str().expect("a URL");
    url.strip_prefix(&app.base).unwrap_or(url)
}

/// Upload, fetch, revalidate, replace (the old URL dies), delete: the whole life of a picture.
async fn a_picture_lives_and_dies(app: &TestApp) {
    let (_, admin) = app.admin().await;

    let response = upload(
        app,
        "/me/profile-picture",
        image_bytes(800, 400, ImageFormat::Png),
        &admin,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me = json_of(response).await;
    let main = path_of(app, &me["profile_picture_url"]).to_owned();
    let thumb = path_of(app, &me["profile_picture_thumbnail_url"]).to_owned();
    assert!(
        main.starts_with("/pictures/") && thumb.starts_with("/pictures/"),
        "{me}"
    );
    assert_ne!(main, thumb);

    let fetched = app.get(&main, None).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    let headers = fetched.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = headers["etag"].to_str().expect("ascii").to_owned();
    let body = fetched.bytes().await.expect("bytes");
    let decoded = image::load_from_memory(&body).expect("a decodable picture");
    assert_eq!(
        (decoded.width(), decoded.height()),
        (512, 256),
        "fits 512×512, keeps the aspect"
    );
    let thumbnail =
        image::load_from_memory(&app.get(&thumb, None).await.bytes().await.expect("bytes"))
            .expect("a decodable thumbnail");
    assert_eq!((thumbnail.width(), thumbnail.height()), (128, 128));

    let revalidated = app
        .client
        .get(app.url(&main))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("answered");
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);

    let avatar = app
        .client
        .get(app.url(&format!("/users/{}/avatar", id_of(&me))))
        .send()
        .await
        .expect("answered");
    assert_eq!(avatar.url().path(), main, "the avatar leads to the picture");

    let response = upload(
        app,
        "/me/profile-picture",
        image_bytes(64, 64, ImageFormat::Jpeg),
        &admin,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let replaced = json_of(response).await;
    let new_main = path_of(app, &replaced["profile_picture_url"]).to_owned();
    assert_ne!(new_main, main);
    assert_eq!(app.get(&new_main, None).await.status(), StatusCode::OK);
    assert_problem(
        app.get(&main, None).await,
        StatusCode::NOT_FOUND,
        "picture_not_found",
        "",
    )
    .await;
    assert_eq!(app.get(&thumb, None).await.status(), StatusCode::NOT_FOUND);

    assert_eq!(
        app.delete("/me/profile-picture", Some(&admin))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let me = json_of(app.get("/me", Some(&admin)).await).await;
    assert_eq!(me["profile_picture_url"], Value::Null);
    assert_eq!(me["profile_picture_thumbnail_url"], Value::Null);
    assert_eq!(
        app.get(&new_main, None).await.status(),
        StatusCode::NOT_FOUND
    );

    let generated = app
        .get(&format!("/users/{}/avatar", id_of(&me)), None)
        .await;
    assert_eq!(generated.status(), StatusCode::OK);
    assert_eq!(generated.headers()["content-type"], "image/svg+xml");
    assert!(generated.text().await.expect("text").starts_with("<svg"));
}

#[tokio::test]
async fn a_picture_lives_and_dies_in_the_directory_store() {
    let app = TestApp::spawn().await;
    a_picture_lives_and_dies(&app).await;
}

#[tokio::test]
async fn a_picture_lives_and_dies_in_an_s3_bucket() {
    let s3 = um_storage::TestS3Server::start().await;
    let app = TestApp::spawn_with_s3(&s3, &[]).await;
    a_picture_lives_and_dies(&app).await;
}

#[tokio::test]
async fn uploads_are_judged_by_their_bytes_size_and_pixels() {
    let app = TestApp::spawn_with(&[
        ("MAX_PICTURE_BYTES", "20000"),
        ("MAX_PICTURE_PIXELS", "250000"),
    ])
    .await;
    let (_, admin) = app.admin().await;
    let path = "/me/profile-picture";

    let text = b"GIF89a? no, just text pretending".to_vec();
    assert_problem(
        upload(&app, path, b"hello, world".to_vec(), &admin).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_image_format",
        "Unsupported image format",
    )
    .await;
    assert_eq!(
        upload(&app, path, text, &admin).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a GIF signature with no image is undecodable"
    );

    let mut truncated = image_bytes(300, 300, ImageFormat::Png);
    truncated.truncate(truncated.len() / 2);
    assert_eq!(
        upload(&app, path, truncated, &admin).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let too_many_pixels = image_bytes(600, 600, ImageFormat::Png);
    assert!(
        too_many_pixels.len() < 20000,
        "the test image must be small in bytes"
    );
    let problem = assert_problem(
        upload(&app, path, too_many_pixels, &admin).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_image",
        "",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "file");

    let noise: Vec<u8> = (0..30_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_problem(
        upload(&app, path, noise, &admin).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "",
    )
    .await;

    let not_multipart = app
        .client
        .post(app.url(path))
        .bearer_auth(&admin)
        .body("raw")
        .send()
        .await
        .expect("answered");
    assert_eq!(not_multipart.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let me = json_of(app.get("/me", Some(&admin)).await).await;
    assert_eq!(me["profile_picture_url"], Value::Null, "nothing was stored");
    let stored = std::fs::read_dir(&app.data_dir)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(stored, 0, "no object was left behind");
}

#[tokio::test]
async fn only_the_user_and_staff_change_a_picture() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let (owner_id, _) = app.verified_user("owner@example.com").await;
    let (_, other) = app.verified_user("other@example.com").await;
    let path = format!("/users/{owner_id}/profile-picture");
    let picture = || image_bytes(100, 100, ImageFormat::Png);

    assert_problem(
        upload(&app, &path, picture(), &other).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "",
    )
    .await;
    assert_eq!(
        app.delete(&path, Some(&other)).await.status(),
        StatusCode::FORBIDDEN
    );
    let by_admin = upload(&app, &path, picture(), &admin).await;
    assert_eq!(by_admin.status(), StatusCode::OK);
    assert_eq!(id_of(&json_of(by_admin).await), owner_id);
    assert_eq!(
        app.delete(&path, Some(&admin)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        upload(&app, &path, picture(), &other).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        upload(
            &app,
            "/users/00000000-0000-0000-0000-000000000000/profile-picture",
            picture(),
            &admin
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn deleting_a_user_removes_its_picture_objects() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let (id, token) = app.verified_user("leaving@example.com").await;
    let me = json_of(
        upload(
            &app,
            "/me/profile-picture",
            image_bytes(90, 60, ImageFormat::Png),
            &token,
        )
        .await,
    )
    .await;
    let main = path_of(&app, &me["profile_picture_url"]).to_owned();
    assert_eq!(
        std::fs::read_dir(&app.data_dir)
            .expect("the data dir")
            .count(),
        2
    );

    assert_eq!(
        app.delete(&format!("/users/{id}"), Some(&admin))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&main, None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        std::fs::read_dir(&app.data_dir)
            .expect("the data dir")
            .count(),
        0
    );
}

#[tokio::test]
async fn a_store_outage_answers_503_and_keeps_the_old_picture() {
    let mut s3 = um_storage::TestS3Server::start().await;
    let app = TestApp::spawn_with_s3(&s3, &[]).await;
    let (_, admin) = app.admin().await;
    let before = json_of(upload_png(&app, 50, &admin).await).await;
    assert!(before["profile_picture_url"].is_string());

    s3.stop();
    let response = upload_png(&app, 70, &admin).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let after = json_of(app.get("/me", Some(&admin)).await).await;
    assert_eq!(after["profile_picture_url"], before["profile_picture_url"]);
    let readiness = json_of(app.get("/readyz", None).await).await;
    assert_eq!(readiness["checks"]["object_store"], "unavailable");
    assert_eq!(readiness["checks"]["database"], "ok");

    // When the store returns, the service uses it again without a restart.
    s3.start_again().await;
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    let response = upload_png(&app, 70, &admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    let after = json_of(app.get("/me", Some(&admin)).await).await;
    assert_ne!(after["profile_picture_url"], before["profile_picture_url"]);
}

#[tokio::test]
async fn with_a_public_bucket_url_pictures_point_straight_at_the_bucket() {
    let s3 = um_storage::TestS3Server::start().await;
    let public = format!("{}/e2e-pictures", s3.endpoint());
    let app = TestApp::spawn_with_s3(&s3, &[("S3_PUBLIC_URL", &public)]).await;
    let (_, admin) = app.admin().await;
    let me = json_of(upload_png(&app, 40, &admin).await).await;
    let url = me["profile_picture_url"].as_str().expect("a URL");
    assert!(url.starts_with(&format!("{public}/")), "{url}");
    let key = url.rsplit('/').next().expect("a key");
    assert_eq!(
        app.get(&format!("/pictures/{key}"), None).await.status(),
        StatusCode::OK,
        "the service still serves it"
    );
}

#[tokio::test]
async fn unknown_and_malformed_picture_keys_are_404() {
    let app = TestApp::spawn().await;
    for key in [
        "0123456789abcdef0123456789abcdef.jpg",
        "..%2Fetc%2Fpasswd",
        "x.png",
    ] {
        assert_eq!(
            app.get(&format!("/pictures/{key}"), None).await.status(),
            StatusCode::NOT_FOUND,
            "{key}"
        );
    }
    assert_eq!(
        app.get("/users/00000000-0000-0000-0000-000000000000/avatar", None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_sweep_command_removes_objects_no_account_points_at() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin().await;
    let me = json_of(
        upload(
            &app,
            "/me/profile-picture",
            image_bytes(90, 60, ImageFormat::Png),
            &admin,
        )
        .await,
    )
    .await;
    // What a crash between storing the objects and updating the row leaves behind.
    let orphan = app.data_dir.join("0123456789abcdef0123456789abcdef.jpg");
    std::fs::write(&orphan, b"orphaned bytes").expect("an orphan");
    let foreign = app.data_dir.join("notes.txt");
    std::fs::write(&foreign, b"not ours").expect("a foreign file");

    let output = app.run_cli(&["sweep-pictures", "--grace-minutes", "0"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("deleted 1"), "{printed}");

    assert!(!orphan.exists(), "the orphan was removed");
    assert!(
        foreign.exists(),
        "files that are not pictures are left alone"
    );
    for url in [
        &me["profile_picture_url"],
        &me["profile_picture_thumbnail_url"],
    ] {
        assert_eq!(
            app.get(path_of(&app, url), None).await.status(),
            StatusCode::OK,
            "{url}"
        );
    }
}

/// With one upload slot, a second upload waits (its body unread) until the first, stalled
/// halfway through its body, has finished; then it goes through.
#[tokio::test]
async fn uploads_beyond_the_concurrency_limit_wait_for_a_slot() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let app = TestApp::spawn_with(&[("MAX_CONCURRENT_UPLOADS", "1")]).await;
    let (_, admin) = app.admin().await;
    let (_, other) = app.verified_user("other@example.com").await;

    let boundary = "slot-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"
    )
    .into_bytes();
    body.extend(image_bytes(64, 64, ImageFormat::Png));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let address = app.base.strip_prefix("http://").expect("an http base URL");
    let mut stalled = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let head = format!(
        "POST /me/profile-picture HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stalled.write_all(head.as_bytes()).await.expect("sends");
    stalled.write_all(first_half).await.expect("sends");
    stalled.flush().await.expect("sends");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let waiting = {
        let app_base = app.base.clone();
        let client = app.client.clone();
        let picture = image_bytes(32, 32, ImageFormat::Png);
        tokio::spawn(async move {
            let part = reqwest::multipart::Part::bytes(picture).file_name("b.png");
            client
                .post(format!("{app_base}/me/profile-picture"))
                .bearer_auth(other)
                .multipart(reqwest::multipart::Form::new().part("file", part))
                .send()
                .await
                .expect("answered")
                .status()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(
        !waiting.is_finished(),
        "the second upload was answered while the only slot was taken"
    );

    stalled.write_all(second_half).await.expect("sends");
    let mut answer = String::new();
    stalled
        .read_to_string(&mut answer)
        .await
        .expect("the stalled upload is answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(waiting.await.expect("joins"), StatusCode::OK);
}

#[tokio::test]
async fn an_upload_whose_body_trickles_in_is_cut_off_and_frees_its_slot() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = TestApp::spawn_with(&[
        ("MAX_CONCURRENT_UPLOADS", "1"),
        ("UPLOAD_BODY_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let (_, token) = app.admin().await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let head = format!(
        "POST /me/profile-picture HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n\
         --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.png\"\r\n\r\n"
    );
    slow.write_all(head.as_bytes())
        .await
        .expect("send the head");
    let started = std::time::Instant::now();
    let mut answer = vec![0_u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), slow.read(&mut answer))
        .await
        .expect("an answer before the request time limit")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // The only slot is free again: a real upload goes through at once.
    let picture = image_bytes(64, 64, image::ImageFormat::Png);
    let response = upload(&app, "/me/profile-picture", picture, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn parts_other_than_file_are_bounded() {
    let app = TestApp::spawn().await;
    let (_, token) = app.admin().await;
    let junk = reqwest::multipart::Part::bytes(vec![b'x'; 200 * 1024]).file_name("junk.bin");
    let picture = reqwest::multipart::Part::bytes(image_bytes(64, 64, image::ImageFormat::Png))
        .file_name("p.png");
    let form = reqwest::multipart::Form::new()
        .part("junk", junk)
        .part("file", picture);
    let response = app
        .client
        .post(app.url("/me/profile-picture"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Uploads a `side`×`side` PNG as the caller's own picture.
async fn upload_png(app: &TestApp, side: u32, token: &str) -> reqwest::Response {
    upload(
        app,
        "/me/profile-picture",
        image_bytes(side, side, ImageFormat::Png),
        token,
    )
    .await
}

/// Pictures are served in milliseconds, not in the 40 ms of a delayed ACK. The service answers
/// a picture in two writes (the headers, then the body as it streams from the store); with
/// Nagle's algorithm on the client's socket, the body waited for the client's delayed ACK of the
/// headers, 40 ms on Linux (issue #17). 50 reads one after the other over one connection:
/// without `TCP_NODELAY` most of them stalled.
async fn pictures_are_read_without_stalls(app: &TestApp) {
    let (_, admin) = app.admin().await;
    let response = upload(
        app,
        "/me/profile-picture",
        image_bytes(64, 64, ImageFormat::Png),
        &admin,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me = json_of(response).await;
    let path = path_of(app, &me["profile_picture_thumbnail_url"]).to_owned();
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let mut stalled = 0;
    for _ in 0..50 {
        let one = std::time::Instant::now();
        let fetched = client.get(app.url(&path)).send().await.expect("answered");
        assert_eq!(fetched.status(), StatusCode::OK);
        assert!(!fetched.bytes().await.expect("a body").is_empty());
        if one.elapsed() >= std::time::Duration::from_millis(35) {
            stalled += 1;
        }
    }
    let total = started.elapsed();
    assert!(
        stalled < 3 && total < std::time::Duration::from_secs(1),
        "{stalled} of 50 reads took 35 ms or more; {total:?} in all"
    );
}

#[tokio::test]
async fn pictures_are_read_without_stalls_from_the_directory_store() {
    let app = TestApp::spawn().await;
    pictures_are_read_without_stalls(&app).await;
}

#[tokio::test]
async fn pictures_are_read_without_stalls_from_an_s3_bucket() {
    let s3 = um_storage::TestS3Server::start().await;
    let app = TestApp::spawn_with_s3(&s3, &[]).await;
    pictures_are_read_without_stalls(&app).await;
}
