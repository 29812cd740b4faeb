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

/// What decoding takes, as estimated from the header, decides how many pictures are decoded
/// at once: the benchmark's 2400×1600 photo (decoded at half size) takes more than half the
/// budget, so two such photos wait for each other; a dozen small avatars fit together.
#[test]
fn the_decode_cost_follows_the_pixels_decoded() {
    let photo = jpeg(&gradient(2400, 1600));
    let cost = decode_cost(&photo, ImageFormat::Jpeg);
    // 1200×800 decoded pixels, twice, at 4 bytes, plus the two rendered pictures.
    let rendered = u64::from(MAIN_MAX_SIDE * MAIN_MAX_SIDE + THUMBNAIL_SIDE * THUMBNAIL_SIDE) * 4;
    assert_eq!(cost, 1200 * 800 * 4 * 2 + rendered);
    assert!(
        cost > DECODE_MEMORY_BUDGET / 2,
        "two photos would fit: {cost}"
    );
    // A PNG is decoded at full size.
    let avatar = png_rgb(&gradient(300, 300));
    let small = decode_cost(&avatar, ImageFormat::Png);
    assert_eq!(small, 300 * 300 * 4 * 2 + rendered);
    assert!(small * 8 < DECODE_MEMORY_BUDGET, "{small}");
    // An unreadable header costs nothing; the decoder refuses it at once.
    assert_eq!(decode_cost(b"\x89PNG\r\n\x1a\nbroken", ImageFormat::Png), 0);
    assert_eq!(decode_cost(&photo[..2], ImageFormat::Jpeg), 0);
}

#[test]
fn dimensions_are_read_from_the_header_of_each_format() {
    let picture = gradient(301, 199);
    assert_eq!(
        dimensions(&jpeg(&picture), ImageFormat::Jpeg),
        Some((301, 199))
    );
    assert_eq!(
        dimensions(&png_rgb(&picture), ImageFormat::Png),
        Some((301, 199))
    );
    assert_eq!(
        dimensions(&webp(&picture), ImageFormat::WebP),
        Some((301, 199))
    );
    assert_eq!(dimensions(b"\xff\xd8\xff", ImageFormat::Jpeg), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_share_of_the_memory_budget_comes_back() {
    let processor = ImageProcessor::with_concurrency(MAX_PIXELS, 4);
    let photo = Bytes::from(jpeg(&gradient(2400, 1600)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (processor, photo) = (processor.clone(), photo.clone());
        tasks.spawn(async move { processor.process(photo).await.map(|_| ()) });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("joined").expect("processed");
    }
    assert_eq!(
        processor.memory.available_permits(),
        kib_permits(DECODE_MEMORY_BUDGET) as usize,
        "every share of the budget came back"
    );
}

/// The threads that this thread starts (directly or not) while `f` runs, by name: every new
/// thread of the process named like this thread (a thread without a name of its own takes its
/// creator's) or like `jpeg-decoder`'s own ("worker thread for component N"), sampled every
/// 200 µs. Threads that other tests start beside it have other names.
fn threads_started_during(f: impl FnOnce()) -> Vec<String> {
    fn threads() -> Vec<(String, String)> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter_map(|task| {
                let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
                let id = task.file_name().to_string_lossy().into_owned();
                Some((id, name.trim_end().to_owned()))
            })
            .collect()
    }
    let me = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let me = me.trim_end().to_owned();
    let before: std::collections::BTreeSet<_> = threads().into_iter().map(|(id, _)| id).collect();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = std::thread::Builder::new()
        .name("thread-watcher".into())
        .spawn({
            let done = Arc::clone(&done);
            move || {
                let mut seen = std::collections::BTreeSet::new();
                while !done.load(Ordering::Relaxed) {
                    seen.extend(threads());
                    std::thread::sleep(Duration::from_micros(200));
                }
                seen
            }
        })
        .unwrap();
    f();
    done.store(true, Ordering::Relaxed);
    watcher
        .join()
        .unwrap()
        .into_iter()
        .filter(|(id, name)| {
            !before.contains(id) && (*name == me || name.starts_with("worker thread"))
        })
        .map(|(id, name)| format!("{id} {name}"))
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn a_large_jpeg_is_decoded_without_starting_threads() {
    // `jpeg-decoder` on its own starts a thread per colour component ("worker thread for
    // component N") for every picture over 128×128 pixels, or with its `rayon` feature uses
    // rayon's global pool, started on first use.
    let upload = jpeg(&gradient(3000, 2000));
    let started = threads_started_during(|| {
        for _ in 0..3 {
            let image =
                on_this_thread_alone(|| decode(&upload, ImageFormat::Jpeg, MAX_PIXELS)).unwrap();
            assert!(
                image.width() >= 512 && image.width() < 3000,
                "{}",
                image.width()
            );
        }
    });
    assert!(
        started.is_empty(),
        "the decoder started threads: {started:?}"
    );
}

#[test]
fn rayon_work_inside_runs_on_the_calling_thread() {
    let caller = std::thread::current().id();
    let threads: std::collections::BTreeSet<String> = on_this_thread_alone(|| {
        assert_eq!(rayon::current_num_threads(), 1);
        use rayon::prelude::*;
        (0..256)
            .into_par_iter()
            .map(|_| format!("{:?}", std::thread::current().id()))
            .collect()
    });
    assert_eq!(
        threads.into_iter().collect::<Vec<_>>(),
        [format!("{caller:?}")]
    );
}
