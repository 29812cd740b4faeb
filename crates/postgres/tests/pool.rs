//! The pool's lanes: each thread takes its connections from the lane it is bound to.

use std::sync::{Arc, Barrier};

use um_postgres::{Pool, TestDatabase, connect_in_lanes, use_lane};

/// Binds a new thread to `lane`, takes `count` connections there at once and holds them until
/// every thread has taken its own; returns the pool's figures seen while all were held.
fn take_on_lane(
    pool: &Pool,
    lane: usize,
    count: usize,
    all_taken: &Barrier,
) -> std::thread::Result<(usize, usize)> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                use_lane(lane);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async {
                    let mut held = Vec::new();
                    for _ in 0..count {
                        held.push(pool.get().await.expect("a connection from this lane"));
                    }
                    all_taken.wait();
                    let status = pool.status();
                    all_taken.wait();
                    (status.size, status.available)
                })
            })
            .join()
    })
}

/// Threads bound to the given lanes each take the given number of connections, all held at
/// once; the pool's (size, available) as each thread saw it then.
async fn hold_at_once(pool: &Pool, takes: &'static [(usize, usize)]) -> Vec<(usize, usize)> {
    let all_taken = Arc::new(Barrier::new(takes.len()));
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            let takers: Vec<_> = takes
                .iter()
                .map(|&(lane, count)| {
                    let (pool, all_taken) = (&pool, &all_taken);
                    scope.spawn(move || take_on_lane(pool, lane, count, all_taken))
                })
                .collect();
            takers
                .into_iter()
                .map(|taker| taker.join().expect("joins").expect("takes"))
                .collect()
        })
    })
    .await
    .expect("the takers finish")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connections_are_split_into_lanes_and_a_thread_takes_from_its_own() {
    let db = TestDatabase::new().await;
    let pool = connect_in_lanes(db.url(), 5, 3).await.expect("a pool");
    assert_eq!(pool.status().max_size, 5);
    // Lanes of 2, 2 and 1: three threads bound to them hold 5 connections at once. Had they
    // shared one lane, the second thread's takes would wait for the first's and time out.
    let figures = hold_at_once(&pool, &[(0, 2), (1, 2), (2, 1)]).await;
    assert_eq!(figures, [(5, 0), (5, 0), (5, 0)]);
}

#[tokio::test]
async fn a_lane_beyond_the_pool_s_lanes_wraps_around_and_lanes_never_outnumber_connections() {
    let db = TestDatabase::new().await;
    // Two connections cannot make three lanes: two lanes of one.
    let pool = connect_in_lanes(db.url(), 2, 3).await.expect("a pool");
    assert_eq!(pool.status().max_size, 2);
    // Lane 3 is lane 1 of two.
    let figures = hold_at_once(&pool, &[(0, 1), (3, 1)]).await;
    assert_eq!(figures, [(2, 0), (2, 0)]);
}
