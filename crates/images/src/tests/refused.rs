//! Refused uploads: unsupported, undecodable and oversized pictures.

use super::*;

// ---------------------------------------------------------------------------------------------
// Refused uploads
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn other_formats_are_unsupported() {
    let tiff = b"II*\0\x08\0\0\0\0\0\0\0".to_vec();
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>"#.to_vec();
    let svg_with_prolog = [b"<?xml version=\"1.0\"?>\n".as_slice(), &svg].concat();
    let garbage: Vec<u8> = (0..1000u32)
        .map(|i| u8::try_from(i.wrapping_mul(2_654_435_761) >> 24).unwrap())
        .collect();
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("garbage", garbage),
        ("text", b"hello, this is not a picture".to_vec()),
        ("bmp", bmp()),
        ("tiff", tiff),
        ("svg", svg),
        ("svg with prolog", svg_with_prolog),
        ("jpeg signature cut short", vec![0xFF, 0xD8]),
    ] {
        let result = process(bytes).await;
        assert!(
            matches!(result, Err(PictureError::UnsupportedFormat)),
            "{name}: {}",
            outcome(&result)
        );
    }
}

#[tokio::test]
async fn truncated_pictures_are_undecodable() {
    let source = gradient(400, 300);
    let jpeg = jpeg(&source);
    let png = png_rgb(&source);
    let webp = webp(&source);
    let gif = animated_gif(64, 48, [255, 0, 0], [0, 0, 255]);
    for (name, bytes) in [
        ("jpeg", &jpeg[..jpeg.len() / 2]),
        ("jpeg headers", &jpeg[..300]),
        ("png", &png[..png.len() / 2]),
        ("png header", &png[..20]),
        ("webp", &webp[..webp.len() / 2]),
        ("gif", &gif[..gif.len() / 3]),
    ] {
        let result = process(bytes.to_vec()).await;
        assert!(
            matches!(result, Err(PictureError::Undecodable(_))),
            "{name}: {}",
            outcome(&result)
        );
    }
}

#[test]
fn jpeg_completeness() {
    let whole = jpeg(&gradient(64, 48));
    assert!(jpeg_is_complete(&whole));
    assert!(jpeg_is_complete(
        &[whole.as_slice(), b"trailing junk"].concat()
    ));
    assert!(!jpeg_is_complete(&whole[..whole.len() - 1]));
    assert!(!jpeg_is_complete(&whole[..whole.len() / 2]));
    assert!(!jpeg_is_complete(&whole[..2]));
    // An EOI inside a segment, as an EXIF thumbnail has, does not make a cut-off file whole.
    let with_thumbnail =
        jpeg_with_segments(&whole, &[jpeg_segment(0xE1, b"Exif\0\0\xFF\xD8\xFF\xD9")]);
    assert!(jpeg_is_complete(&with_thumbnail));
    assert!(!jpeg_is_complete(
        &with_thumbnail[..with_thumbnail.len() / 2]
    ));
}

#[tokio::test]
async fn corrupt_pictures_are_undecodable() {
    let mut png = png_rgb(&gradient(100, 100));
    let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
    png[idat + 10] ^= 0xFF; // breaks the CRC of IDAT
    let result = process(png).await;
    assert!(
        matches!(result, Err(PictureError::Undecodable(_))),
        "{}",
        outcome(&result)
    );
}

#[tokio::test]
async fn a_png_bomb_is_refused_from_its_header() {
    let bomb = png_header_only(20_000, 20_000);
    assert!(bomb.len() < 100);
    let started = Instant::now();
    let result = process(bomb).await;
    assert!(
        matches!(
            result,
            Err(PictureError::TooManyPixels {
                width: 20_000,
                height: 20_000,
                max_pixels: MAX_PIXELS
            })
        ),
        "{}",
        outcome(&result)
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_deep_png_under_the_pixel_limit_is_refused_for_its_memory_from_its_header() {
    // 6300×6300 = 39.7 megapixels, under the limit, but 16-bit RGBA: 303 MiB decoded.
    let deep = png_header_only_of(6300, 6300, 16, 6);
    let started = Instant::now();
    let result = process(deep).await;
    match &result {
        Err(
            error @ PictureError::TooMuchMemory {
                width: 6300,
                height: 6300,
                bytes_per_pixel: 8,
                needed_mib: 303,
                max_mib: 160,
            },
        ) => assert!(error.to_string().contains("8 bits per channel"), "{error}"),
        _ => panic!("{}", outcome(&result)),
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    // The same pixels at 8 bits per channel are within the budget (and then undecodable here,
    // since the file holds no pixels).
    let shallow = process(png_header_only_of(6300, 6300, 8, 6)).await;
    assert!(
        matches!(shallow, Err(PictureError::Undecodable(_))),
        "{}",
        outcome(&shallow)
    );
}

#[tokio::test]
async fn the_pixel_count_is_checked_before_decoding() {
    // The body of this file cannot be decoded: if it were, the answer would be Undecodable.
    let file = png_header_only(3000, 3000);
    let result = ImageProcessor::new(1_000_000)
        .process(Bytes::from(file.clone()))
        .await;
    assert!(
        matches!(
            result,
            Err(PictureError::TooManyPixels {
                width: 3000,
                height: 3000,
                max_pixels: 1_000_000
            })
        ),
        "{}",
        outcome(&result)
    );
    // With room for its pixels the same file is decoded, and fails as it must.
    let result = ImageProcessor::new(10_000_000)
        .process(Bytes::from(file))
        .await;
    assert!(
        matches!(result, Err(PictureError::Undecodable(_))),
        "{}",
        outcome(&result)
    );

    // The limit is inclusive.
    let exact = png_rgb(&gradient(100, 50));
    ImageProcessor::new(5000)
        .process(Bytes::from(exact.clone()))
        .await
        .unwrap();
    let result = ImageProcessor::new(4999).process(Bytes::from(exact)).await;
    assert!(
        matches!(result, Err(PictureError::TooManyPixels { .. })),
        "{}",
        outcome(&result)
    );
}

#[tokio::test]
async fn jpeg_and_gif_bombs_are_refused_from_their_headers() {
    // A real 16×16 JPEG whose frame header is patched to claim 60000×60000.
    let mut bomb = jpeg(&gradient(16, 16));
    let sof = bomb.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bomb[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
    bomb[sof + 7..sof + 9].copy_from_slice(&60_000u16.to_be_bytes());
    let result = process(bomb).await;
    assert!(
        matches!(
            result,
            Err(PictureError::TooManyPixels {
                width: 60_000,
                height: 60_000,
                ..
            })
        ),
        "{}",
        outcome(&result)
    );

    // A GIF with a logical screen of 65535×65535 and one 1×1 frame.
    let mut bomb = animated_gif(1, 1, [0, 0, 0], [0, 0, 0]);
    bomb[6..8].copy_from_slice(&u16::MAX.to_le_bytes());
    bomb[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    let result = process(bomb).await;
    assert!(
        matches!(
            result,
            Err(PictureError::TooManyPixels {
                width: 65_535,
                height: 65_535,
                ..
            })
        ),
        "{}",
        outcome(&result)
    );
}

#[test]
fn limits_follow_max_pixels_up_to_the_memory_budget() {
    let limits = limits(40_000_000);
    assert_eq!(limits.max_image_width, Some(MAX_SIDE));
    assert_eq!(limits.max_image_height, Some(MAX_SIDE));
    // 16 bytes per pixel would allow 640 MB; the budget caps it at 160 + 32 MiB.
    assert_eq!(limits.max_alloc, Some(192 * 1024 * 1024));
    let small = super::limits(1000);
    assert_eq!(small.max_image_width, Some(1000));
    assert_eq!(small.max_alloc, Some(16_000));
}
