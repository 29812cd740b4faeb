//! Threads and concurrency.

use super::*;

// ---------------------------------------------------------------------------------------------
// Threads and concurrency
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn processing_does_not_block_the_executor() {
    let upload = Bytes::from(jpeg(&gradient(4000, 3000)));
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn({
        let ticks = Arc::clone(&ticks);
        async move {
            loop {
                ticks.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }
    });

    let processed = processor().process(upload).await.unwrap();
    let during = ticks.load(Ordering::Relaxed);
    ticker.abort();

    assert_shapes(&processed, (512, 384));
    // On this single-threaded runtime the ticker can only run while `process` is suspended;
    // had the work been done on the executor thread it would not have ticked at all.
    assert!(during > 100, "the ticker ticked only {during} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrency_is_bounded() {
    let processor = ImageProcessor::with_concurrency(MAX_PIXELS, 2);
    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let processor = processor.clone();
        let active = Arc::clone(&active);
        let peak = Arc::clone(&peak);
        tasks.spawn(async move {
            processor
                .run_blocking(move || {
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    active.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn concurrent_uploads_all_succeed() {
    let processor = ImageProcessor::with_concurrency(MAX_PIXELS, 2);
    let upload = Bytes::from(jpeg(&gradient(800, 600)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let processor = processor.clone();
        let upload = upload.clone();
        tasks.spawn(async move { processor.process(upload).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_shapes(&result.unwrap().unwrap(), (512, 384));
    }
}

#[tokio::test]
async fn a_panic_is_an_internal_error() {
    let processor = ImageProcessor::with_concurrency(MAX_PIXELS, 1);
    let result: Result<(), _> = processor
        .run_blocking(|| panic!("a bug in a decoder"))
        .await;
    assert!(
        matches!(result, Err(PictureError::Internal(_))),
        "{result:?}"
    );
    // The only permit came back.
    tokio::time::timeout(Duration::from_secs(5), processor.run_blocking(|| Ok(())))
        .await
        .unwrap()
        .unwrap();
}
