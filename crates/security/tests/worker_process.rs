//! The hashing worker as a real process: this test executable is also the worker (run with
//! `hash-worker` as its argument, as the service's executable is), so the parent side is tested
//! against a real child: pipes, its session and priority, its death and restart.
//!
//! A test binary of its own, without libtest's harness: `main` either serves as the worker or
//! runs the tests below one after the other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use um_domain::ports::PasswordHasher as _;
use um_security::Argon2Hasher;
use um_security::worker::WorkerCommand;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("hash-worker") {
        let threads = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(1);
        um_security::worker::serve(threads, || {}).expect("the worker serves");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let tests: [(&str, fn() -> _); 4] = [
        ("hashes_and_verifications_run_in_the_worker", || {
            Box::pin(hashes_and_verifications_run_in_the_worker())
                as std::pin::Pin<Box<dyn Future<Output = ()>>>
        }),
        (
            "the_worker_sits_in_a_session_of_its_own_at_the_lowest_priority",
            || Box::pin(the_worker_sits_in_a_session_of_its_own_at_the_lowest_priority()),
        ),
        ("a_killed_worker_is_replaced_and_no_login_is_lost", || {
            Box::pin(a_killed_worker_is_replaced_and_no_login_is_lost())
        }),
        ("the_worker_exits_with_the_service", || {
            Box::pin(the_worker_exits_with_the_service())
        }),
    ];
    let filter = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-') && *a != "terse");
    if args.iter().any(|a| a == "--list") {
        // libtest's listing, as cargo-nextest asks for it; none of these is ignored.
        if args.iter().any(|a| a == "--ignored") {
            return;
        }
        for (name, _) in &tests {
            println!("{name}: test");
        }
        return;
    }
    for (name, test) in tests {
        if filter.is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        eprintln!("test {name} ...");
        runtime.block_on(test());
        eprintln!("test {name} ... ok");
    }
}

fn command(threads: usize) -> WorkerCommand {
    let exe = std::env::current_exe().expect("this executable");
    Arc::new(move || {
        let mut command = std::process::Command::new(&exe);
        command.arg("hash-worker").arg(threads.to_string());
        command
    })
}

async fn hasher(threads: usize) -> Argon2Hasher {
    Argon2Hasher::in_worker_process(command(threads), threads)
        .await
        .expect("the worker starts")
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

async fn hashes_and_verifications_run_in_the_worker() {
    let hasher = hasher(2).await;
    let pid = hasher.worker_pid().await.expect("a worker runs");
    assert_ne!(pid, std::process::id());
    let hash = hasher.hash(secret("Secur3*Pass")).await.expect("hash");
    assert!(hash.expose().starts_with("$argon2id$v=19$m=9216,t=4,p=1$"));
    assert!(
        hasher
            .verify(secret("Secur3*Pass"), Some(hash.clone()))
            .await
            .expect("verify")
    );
    assert!(
        !hasher
            .verify(secret("Secur3*Pas"), Some(hash.clone()))
            .await
            .expect("verify")
    );
    // An unknown account: the dummy hash, computed in the worker too.
    assert!(
        !hasher
            .verify(secret("Secur3*Pass"), None)
            .await
            .expect("verify")
    );
    // Many at once: every one answered, each with its own result.
    let jobs: Vec<_> = (0..8)
        .map(|i| {
            let (hasher, hash) = (hasher.clone(), hash.clone());
            tokio::spawn(async move {
                let candidate = if i % 2 == 0 { "Secur3*Pass" } else { "nope" };
                (
                    i,
                    hasher
                        .verify(secret(candidate), Some(hash))
                        .await
                        .expect("verify"),
                )
            })
        })
        .collect();
    for job in jobs {
        let (i, matches) = job.await.expect("joined");
        assert_eq!(matches, i % 2 == 0, "job {i}");
    }
    assert_eq!(
        hasher.worker_pid().await,
        Some(pid),
        "one worker did it all"
    );
}

/// Fields of `/proc/<pid>/stat` after the command name.
fn stat(pid: u32) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &text[text.rfind(')').expect("a command name") + 2..];
    after.split_whitespace().map(str::to_owned).collect()
}

async fn the_worker_sits_in_a_session_of_its_own_at_the_lowest_priority() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let hasher = hasher(2).await;
    let pid = hasher.worker_pid().await.expect("a worker runs");
    // stat fields (after the name): state, ppid, pgrp, session, ...
    let fields = stat(pid);
    assert_eq!(
        fields[3],
        pid.to_string(),
        "the worker leads a session of its own"
    );
    assert_ne!(fields[3], stat(std::process::id())[3]);
    if let Ok(autogroup) = std::fs::read_to_string(format!("/proc/{pid}/autogroup")) {
        assert!(autogroup.trim_end().ends_with("nice 19"), "{autogroup}");
    }
    // Its hashing threads run under SCHED_IDLE (policy 5).
    let mut hashing_threads = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let task = task.expect("a task").file_name();
        let task = task.to_str().expect("a number");
        let name = std::fs::read_to_string(format!("/proc/{pid}/task/{task}/comm")).expect("comm");
        if !name.starts_with("argon2-") {
            continue;
        }
        hashing_threads += 1;
        let text = std::fs::read_to_string(format!("/proc/{pid}/task/{task}/stat")).expect("stat");
        let after = &text[text.rfind(')').expect("name") + 2..];
        let policy: u32 = after
            .split_whitespace()
            .nth(38)
            .expect("policy")
            .parse()
            .expect("n");
        assert_eq!(policy, 5, "thread {name} runs under SCHED_IDLE");
    }
    assert_eq!(hashing_threads, 2);
}

async fn a_killed_worker_is_replaced_and_no_login_is_lost() {
    let hasher = hasher(1).await;
    let hash = hasher.hash(secret("Secur3*Pass")).await.expect("hash");
    let first = hasher.worker_pid().await.expect("a worker runs");
    // Jobs in flight when the worker dies are tried again on a new one.
    let jobs: Vec<_> = (0..4)
        .map(|_| {
            let (hasher, hash) = (hasher.clone(), hash.clone());
            tokio::spawn(async move { hasher.verify(secret("Secur3*Pass"), Some(hash)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    for job in jobs {
        assert!(
            job.await
                .expect("joined")
                .expect("answered after the restart")
        );
    }
    let second = hasher.worker_pid().await.expect("a new worker runs");
    assert_ne!(first, second);
    assert!(
        hasher
            .verify(secret("Secur3*Pass"), Some(hash))
            .await
            .expect("verify")
    );
}

async fn the_worker_exits_with_the_service() {
    let hasher = hasher(1).await;
    let pid = hasher.worker_pid().await.expect("a worker runs");
    drop(hasher);
    let deadline = Instant::now() + Duration::from_secs(10);
    // Gone, or a zombie until tokio reaps it.
    while std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !stat_state_is_zombie(&s))
    {
        assert!(Instant::now() < deadline, "the worker {pid} still runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stat_state_is_zombie(stat: &str) -> bool {
    stat.rfind(')')
        .is_some_and(|i| stat[i + 2..].starts_with('Z'))
}
