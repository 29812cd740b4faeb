//! The password hashing worker process that the service starts itself (`um_security::worker`):
//! it exists, sits apart from the service for the scheduler, sees no secret, and a new one
//! takes over when it dies.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp};

/// The processes whose parent is `pid`, with their command lines.
fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(fields) = stat(child) else { continue };
        // A zombie waiting to be reaped is not a worker.
        if fields[1] == pid.to_string() && fields[0] != "Z" {
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            children.push((child, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    children
}

/// The fields of `/proc/<pid>/stat` after the command name: state, ppid, pgrp, session, …
fn stat(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

fn worker_of(app: &TestApp) -> u32 {
    let workers: Vec<_> = children_of(app.pid())
        .into_iter()
        .filter(|(_, cmdline)| cmdline.contains("hash-worker"))
        .collect();
    assert_eq!(workers.len(), 1, "one hashing worker: {workers:?}");
    workers[0].0
}

#[tokio::test]
async fn the_service_hashes_in_a_worker_process_of_its_own_without_secrets() {
    let app = TestApp::spawn().await;
    let worker = worker_of(&app);
    let fields = stat(worker).expect("the worker runs");
    assert_eq!(
        fields[3],
        worker.to_string(),
        "the worker leads its own session"
    );
    assert_ne!(fields[3], stat(app.pid()).expect("the service runs")[3]);
    let environ = std::fs::read(format!("/proc/{worker}/environ")).expect("environ");
    let environ = String::from_utf8_lossy(&environ);
    for secret in ["JWT_SECRET", "DATABASE_URL", "SMTP_URL", "S3_SECRET_KEY"] {
        assert!(!environ.contains(secret), "the worker sees {secret}");
    }
    // Logins work through it.
    let (_, token) = app.admin().await;
    let me = app.get("/me", Some(&token)).await;
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_new_worker_takes_over_when_the_worker_dies() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let first = worker_of(&app);
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    // The next login needs the worker: a new one starts and the login succeeds.
    let response = app.login_form("admin@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let wrong = app.login_form("admin@example.com", "Wrong*Passw0rd").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let workers: Vec<_> = children_of(app.pid())
            .into_iter()
            .filter(|(_, cmdline)| cmdline.contains("hash-worker"))
            .collect();
        if workers.len() == 1 {
            assert_ne!(workers[0].0, first, "a new worker");
            break;
        }
        assert!(Instant::now() < deadline, "workers: {workers:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
