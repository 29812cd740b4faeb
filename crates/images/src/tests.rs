#![allow(clippy::unwrap_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use image::{
    AnimationDecoder, ExtendedColorType, Frame, ImageEncoder, Rgb, Rgba,
    codecs::{gif::GifDecoder, gif::GifEncoder, png::PngEncoder, webp::WebPEncoder},
};

use super::*;

const MAX_PIXELS: u64 = 40_000_000;

fn processor() -> ImageProcessor {
    ImageProcessor::new(MAX_PIXELS)
}

async fn process(bytes: Vec<u8>) -> Result<ProcessedPicture, PictureError> {
    processor().process(Bytes::from(bytes)).await
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A smooth, non-trivial picture, so that encoders have something to do.
fn gradient(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            u8::try_from(x * 255 / width.max(1)).unwrap(),
            u8::try_from(y * 255 / height.max(1)).unwrap(),
            u8::try_from(((x + y) / 3) % 256).unwrap(),
        ])
    })
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(image)
        .unwrap();
    out
}

fn png_rgb(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn png_rgba(image: &RgbaImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgba8,
        )
        .unwrap();
    out
}

fn webp(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

/// An animated GIF of two frames of one colour each.
fn animated_gif(width: u32, height: u32, first: [u8; 3], second: [u8; 3]) -> Vec<u8> {
    let frame =
        |[r, g, b]: [u8; 3]| Frame::new(RgbaImage::from_pixel(width, height, Rgba([r, g, b, 255])));
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        encoder
            .encode_frames(vec![frame(first), frame(second)])
            .unwrap();
    }
    out
}

/// A minimal uncompressed 24-bit BMP of 1×1 pixel.
fn bmp() -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&58u32.to_le_bytes()); // file size
    out.extend_from_slice(&0u32.to_le_bytes()); // reserved
    out.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    out.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    out.extend_from_slice(&1i32.to_le_bytes()); // width
    out.extend_from_slice(&1i32.to_le_bytes()); // height
    out.extend_from_slice(&1u16.to_le_bytes()); // planes
    out.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    out.extend_from_slice(&0u32.to_le_bytes()); // BI_RGB
    out.extend_from_slice(&4u32.to_le_bytes()); // image size
    out.extend_from_slice(&2835i32.to_le_bytes());
    out.extend_from_slice(&2835i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 255, 0]); // one red pixel, padded to 4 bytes
    assert_eq!(out.len(), 58);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A PNG whose header claims `width`×`height` RGB pixels but whose only IDAT holds two bytes:
/// it cannot possibly be decoded.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    png_header_only_of(width, height, 8, 2) // 8 bits, RGB
}

/// [`png_header_only`] with `bit_depth` and `color_type` (2 RGB, 6 RGBA) of its own.
fn png_header_only_of(width: u32, height: u32, bit_depth: u8, color_type: u8) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]); // deflate, adaptive, no interlace
    let mut out = PNG_SIGNATURE.to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    out.extend(png_chunk(b"IDAT", &[0x78, 0x9c]));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

/// The chunks of a PNG, in order.
fn png_chunks(bytes: &[u8]) -> Vec<String> {
    assert!(bytes.starts_with(PNG_SIGNATURE), "not a PNG");
    let mut chunks = Vec::new();
    let mut at = PNG_SIGNATURE.len();
    while at + 8 <= bytes.len() {
        let len =
            usize::try_from(u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())).unwrap();
        chunks.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        at += 12 + len;
    }
    assert_eq!(at, bytes.len(), "PNG chunks do not add up");
    chunks
}

/// Inserts `chunks` right after the IHDR chunk of a PNG.
fn png_with_chunks(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let after_ihdr = PNG_SIGNATURE.len() + 12 + 13;
    let mut out = png[..after_ihdr].to_vec();
    for chunk in chunks {
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&png[after_ihdr..]);
    out
}

/// The GPS latitude 48° 51' 29.52" as six big-endian RATIONAL halves: distinctive bytes that
/// must not survive.
fn gps_latitude_bytes() -> Vec<u8> {
    [48u32, 1, 51, 1, 2952, 100]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

fn gps_longitude_bytes() -> Vec<u8> {
    [2u32, 1, 17, 1, 4000, 100]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

/// A big-endian TIFF structure as EXIF carries it: IFD0 with the orientation and, if asked, a
/// GPS IFD with latitude and longitude.
fn exif_tiff(orientation: u16, gps: bool) -> Vec<u8> {
    fn entry(out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]) {
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&value);
    }
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const ASCII: u16 = 2;
    const RATIONAL: u16 = 5;

    let ifd0_entries: u16 = if gps { 2 } else { 1 };
    let ifd0_size = 2 + 12 * u32::from(ifd0_entries) + 4;
    let gps_ifd = 8 + ifd0_size;
    let gps_ifd_size = 2 + 12 * 4 + 4;
    let latitude = gps_ifd + gps_ifd_size;
    let longitude = latitude + 24;

    let mut out = b"MM\0\x2a".to_vec();
    out.extend_from_slice(&8u32.to_be_bytes());
    out.extend_from_slice(&ifd0_entries.to_be_bytes());
    let [hi, lo] = orientation.to_be_bytes();
    entry(&mut out, 0x0112, SHORT, 1, [hi, lo, 0, 0]);
    if gps {
        entry(&mut out, 0x8825, LONG, 1, gps_ifd.to_be_bytes());
    }
    out.extend_from_slice(&0u32.to_be_bytes()); // no IFD1
    if gps {
        assert_eq!(out.len(), usize::try_from(gps_ifd).unwrap());
        out.extend_from_slice(&4u16.to_be_bytes());
        entry(&mut out, 0x0001, ASCII, 2, *b"N\0\0\0");
        entry(&mut out, 0x0002, RATIONAL, 3, latitude.to_be_bytes());
        entry(&mut out, 0x0003, ASCII, 2, *b"E\0\0\0");
        entry(&mut out, 0x0004, RATIONAL, 3, longitude.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(out.len(), usize::try_from(latitude).unwrap());
        out.extend(gps_latitude_bytes());
        out.extend(gps_longitude_bytes());
    }
    out
}

fn jpeg_segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Inserts segments right after the SOI marker of a JPEG.
fn jpeg_with_segments(jpeg: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let mut out = jpeg[..2].to_vec();
    for segment in segments {
        out.extend_from_slice(segment);
    }
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn exif_app1(orientation: u16, gps: bool) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(exif_tiff(orientation, gps));
    jpeg_segment(0xE1, &payload)
}

/// The markers of a JPEG's segments up to the start of scan.
fn jpeg_markers(bytes: &[u8]) -> Vec<u8> {
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "not a JPEG");
    let mut markers = Vec::new();
    let mut at = 2;
    loop {
        assert_eq!(bytes[at], 0xFF, "segment expected at {at}");
        let marker = bytes[at + 1];
        markers.push(marker);
        if marker == 0xDA {
            return markers;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        at += 2 + len;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Checks that an encoded picture is what it claims and decodes to its stated size.
fn decoded(picture: &EncodedPicture) -> DynamicImage {
    let format = match picture.format {
        PictureFormat::Jpeg => ImageFormat::Jpeg,
        PictureFormat::Png => ImageFormat::Png,
    };
    assert_eq!(image::guess_format(&picture.bytes).unwrap(), format);
    let image = image::load_from_memory_with_format(&picture.bytes, format).unwrap();
    assert_eq!(image.dimensions(), (picture.width, picture.height));
    image
}

/// A failed assertion shows the error or the sizes, not kilobytes of picture.
fn outcome(result: &Result<ProcessedPicture, PictureError>) -> String {
    match result {
        Ok(p) => format!(
            "Ok: main {}×{} {:?}, thumbnail {}×{} {:?}",
            p.main.width,
            p.main.height,
            p.main.format,
            p.thumbnail.width,
            p.thumbnail.height,
            p.thumbnail.format
        ),
        Err(e) => format!("Err: {e:?}"),
    }
}

fn assert_shapes(processed: &ProcessedPicture, main: (u32, u32)) {
    assert_eq!((processed.main.width, processed.main.height), main);
    assert_eq!(
        (processed.thumbnail.width, processed.thumbnail.height),
        (THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    );
    decoded(&processed.main);
    decoded(&processed.thumbnail);
}

fn assert_colour_near(actual: [u8; 3], expected: [u8; 3], what: &str) {
    let close = actual
        .iter()
        .zip(expected)
        .all(|(&a, e)| a.abs_diff(e) <= 40);
    assert!(close, "{what}: {actual:?} is not close to {expected:?}");
}

fn rgb_at(image: &DynamicImage, x: u32, y: u32) -> [u8; 3] {
    let Rgba([r, g, b, _]) = image.get_pixel(x, y);
    [r, g, b]
}

fn assert_aspect(width: u32, height: u32, src_width: u32, src_height: u32) {
    let ratio = f64::from(width) / f64::from(height);
    let src_ratio = f64::from(src_width) / f64::from(src_height);
    // One pixel of rounding on the short side.
    let tolerance = 1.0 / f64::from(width.min(height));
    assert!(
        (ratio / src_ratio - 1.0).abs() <= tolerance,
        "{width}×{height} does not keep the ratio of {src_width}×{src_height}"
    );
}

// ---------------------------------------------------------------------------------------------
// Accepted formats and geometry
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn jpeg_is_fitted_within_512_and_thumbnailed() {
    let processed = process(jpeg(&gradient(1200, 800))).await.unwrap();
    assert_shapes(&processed, (512, 341));
    assert_aspect(512, 341, 1200, 800);
    assert_eq!(processed.main.format, PictureFormat::Jpeg);
    assert_eq!(processed.thumbnail.format, PictureFormat::Jpeg);
}

#[tokio::test]
async fn png_portrait_is_fitted_by_its_height() {
    let processed = process(png_rgb(&gradient(300, 900))).await.unwrap();
    assert_shapes(&processed, (171, 512));
    assert_aspect(171, 512, 300, 900);
    assert_eq!(processed.main.format, PictureFormat::Jpeg);
}

#[tokio::test]
async fn webp_is_accepted() {
    let processed = process(webp(&gradient(1000, 700))).await.unwrap();
    assert_shapes(&processed, (512, 358));
    assert_aspect(512, 358, 1000, 700);
}

#[tokio::test]
async fn animated_gif_yields_its_first_frame() {
    let red = [220, 20, 20];
    let blue = [20, 20, 220];
    let gif = animated_gif(64, 48, red, blue);
    let frames = GifDecoder::new(Cursor::new(&gif))
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 2, "the fixture is animated");

    let processed = process(gif).await.unwrap();
    assert_shapes(&processed, (64, 48));
    assert_eq!(processed.main.format, PictureFormat::Jpeg);
    let main = decoded(&processed.main);
    let thumbnail = decoded(&processed.thumbnail);
    assert_colour_near(rgb_at(&main, 32, 24), red, "main");
    assert_colour_near(rgb_at(&thumbnail, 64, 64), red, "thumbnail");
}

#[tokio::test]
async fn small_pictures_are_not_enlarged_but_thumbnails_are() {
    let processed = process(png_rgb(&gradient(50, 80))).await.unwrap();
    assert_shapes(&processed, (50, 80));
}

#[tokio::test]
async fn exactly_512_is_kept_and_extreme_ratios_keep_a_pixel() {
    let processed = process(png_rgb(&gradient(512, 512))).await.unwrap();
    assert_shapes(&processed, (512, 512));

    let processed = process(png_rgb(&gradient(3000, 2))).await.unwrap();
    assert_shapes(&processed, (512, 1));
}

#[tokio::test]
async fn thumbnail_is_the_centred_square() {
    // 300×100: a red left third, a green middle third, a blue right third.
    let image = RgbImage::from_fn(300, 100, |x, _| match x {
        0..100 => Rgb([255, 0, 0]),
        100..200 => Rgb([0, 255, 0]),
        _ => Rgb([0, 0, 255]),
    });
    let processed = process(png_rgb(&image)).await.unwrap();
    let thumbnail = decoded(&processed.thumbnail);
    for (x, y) in [(10, 10), (64, 64), (117, 117)] {
        assert_colour_near(rgb_at(&thumbnail, x, y), [0, 255, 0], "thumbnail");
    }
}

#[test]
fn fitted_sizes() {
    assert_eq!(fitted_size(1200, 800, 512), (512, 341));
    assert_eq!(fitted_size(800, 1200, 512), (341, 512));
    assert_eq!(fitted_size(513, 513, 512), (512, 512));
    assert_eq!(fitted_size(512, 100, 512), (512, 100));
    assert_eq!(fitted_size(10, 20, 512), (10, 20));
    assert_eq!(fitted_size(65_535, 1, 512), (512, 1));
    assert_eq!(fitted_size(1, 65_535, 512), (1, 512));
}

#[test]
fn reduced_decoding_keeps_twice_what_both_pictures_need() {
    // Landscape and portrait: the main picture's long side decides.
    assert_eq!(needed_size(2400, 1600), (1024, 683));
    assert_eq!(needed_size(1600, 2400), (683, 1024));
    // A panorama: the thumbnail's side (on the short side) decides.
    assert_eq!(needed_size(8000, 300), (6827, 256));
    // Small pictures are needed whole.
    assert_eq!(needed_size(600, 400), (600, 400));
    assert_eq!(needed_size(1, 1), (1, 1));
}

#[test]
fn a_large_jpeg_is_decoded_at_a_reduced_scale_and_a_small_one_is_not() {
    let large = reduced(&jpeg(&gradient(2400, 1600)), (2400, 1600)).expect("reduced");
    assert_eq!(
        large.dimensions(),
        (1200, 800),
        "half scale: 1024×683 needed"
    );
    let larger = reduced(&jpeg(&gradient(4800, 3200)), (4800, 3200)).expect("reduced");
    assert_eq!(larger.dimensions(), (1200, 800), "quarter scale");
    assert!(reduced(&jpeg(&gradient(1200, 800)), (1200, 800)).is_none());
    let grey = image::GrayImage::from_pixel(2048, 2048, image::Luma([90]));
    let grey_jpeg = {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&grey)
            .unwrap();
        out
    };
    let grey = reduced(&grey_jpeg, (2048, 2048)).expect("reduced");
    assert_eq!(grey.color(), image::ColorType::L8);
    assert_eq!(grey.dimensions(), (1024, 1024));
}

fn reduced(jpeg: &[u8], size: (u32, u32)) -> Option<DynamicImage> {
    decode_jpeg_reduced(jpeg, size, MAX_PIXELS)
}

/// The reduced decode changes nothing a user sees: geometry, colours, orientation.
#[tokio::test]
async fn a_large_photo_comes_out_as_from_a_full_size_decode() {
    // 2400×1600: red left third, green middle, blue right third; stored with orientation 6.
    let red = [230, 10, 10];
    let green = [10, 200, 10];
    let blue = [10, 10, 230];
    let image = RgbImage::from_fn(2400, 1600, |x, _| {
        Rgb(match x {
            0..800 => red,
            800..1600 => green,
            _ => blue,
        })
    });
    let upload = jpeg_with_segments(&jpeg(&image), &[exif_app1(6, false)]);

    let processed = process(upload).await.unwrap();

    // Rotated 90° clockwise: 1600×2400 shown, so 341×512, with red at the top.
    assert_shapes(&processed, (341, 512));
    let main = decoded(&processed.main);
    assert_colour_near(rgb_at(&main, 170, 40), red, "top");
    assert_colour_near(rgb_at(&main, 170, 256), green, "middle");
    assert_colour_near(rgb_at(&main, 170, 470), blue, "bottom");
    let thumbnail = decoded(&processed.thumbnail);
    assert_colour_near(rgb_at(&thumbnail, 64, 64), green, "thumbnail centre");
}

// ---------------------------------------------------------------------------------------------
// Transparency
// ---------------------------------------------------------------------------------------------

/// 600×400 opaque green with a fully transparent 100×100 black top-left corner.
fn green_with_transparent_corner() -> RgbaImage {
    RgbaImage::from_fn(600, 400, |x, y| {
        if x < 100 && y < 100 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([0, 255, 0, 255])
        }
    })
}

#[tokio::test]
async fn used_transparency_gives_png() {
    let processed = process(png_rgba(&green_with_transparent_corner()))
        .await
        .unwrap();
    assert_shapes(&processed, (512, 341));
    assert_eq!(processed.main.format, PictureFormat::Png);
    assert_eq!(processed.thumbnail.format, PictureFormat::Png);

    let main = decoded(&processed.main).into_rgba8();
    assert_eq!(main.get_pixel(5, 5)[3], 0, "the corner stays transparent");
    assert_eq!(*main.get_pixel(300, 200), Rgba([0, 255, 0, 255]));
    // Resampled with premultiplied alpha: the edge of the transparent corner is green fading
    // out, not a dark fringe made of the invisible black.
    let mut edge_pixels = 0;
    for pixel in main.pixels().filter(|p| (64..255).contains(&p[3])) {
        edge_pixels += 1;
        assert!(
            pixel[1] >= 230 && pixel[0] <= 25 && pixel[2] <= 25,
            "{pixel:?}"
        );
    }
    assert!(edge_pixels > 0, "the corner has a soft edge");
}

#[tokio::test]
async fn a_single_transparent_pixel_is_enough_for_png() {
    let mut image = RgbaImage::from_pixel(40, 40, Rgba([10, 200, 30, 255]));
    image.put_pixel(39, 39, Rgba([10, 200, 30, 0]));
    let processed = process(png_rgba(&image)).await.unwrap();
    assert_eq!(processed.main.format, PictureFormat::Png);
    assert_eq!(processed.thumbnail.format, PictureFormat::Png);
    let main = decoded(&processed.main).into_rgba8();
    assert_eq!(main.get_pixel(39, 39)[3], 0);
}

#[tokio::test]
async fn an_unused_alpha_channel_gives_jpeg() {
    let image = DynamicImage::ImageRgb8(gradient(300, 200)).into_rgba8();
    let processed = process(png_rgba(&image)).await.unwrap();
    assert_shapes(&processed, (300, 200));
    assert_eq!(processed.main.format, PictureFormat::Jpeg);
    assert_eq!(processed.thumbnail.format, PictureFormat::Jpeg);
}

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

// ---------------------------------------------------------------------------------------------
// EXIF orientation and metadata
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn exif_orientation_is_applied() {
    // 200×100, blue with a red 50×50 top-left corner, stored with orientation 6: to be shown
    // rotated 90° clockwise, which moves the corner to the top right.
    let red = [230, 10, 10];
    let blue = [10, 10, 230];
    let image = RgbImage::from_fn(200, 100, |x, y| {
        Rgb(if x < 50 && y < 50 { red } else { blue })
    });
    let upload = jpeg_with_segments(&jpeg(&image), &[exif_app1(6, false)]);
    let mut decoder = image::codecs::jpeg::JpegDecoder::new(Cursor::new(&upload)).unwrap();
    assert_eq!(
        decoder.orientation().unwrap(),
        Orientation::Rotate90,
        "fixture"
    );

    let processed = process(upload).await.unwrap();
    assert_shapes(&processed, (100, 200));
    let main = decoded(&processed.main);
    assert_colour_near(rgb_at(&main, 75, 25), red, "top right");
    assert_colour_near(rgb_at(&main, 25, 25), blue, "top left");
    assert_colour_near(rgb_at(&main, 25, 175), blue, "bottom left");
    assert_colour_near(rgb_at(&main, 75, 175), blue, "bottom right");
}

#[tokio::test]
async fn jpeg_metadata_is_stripped() {
    let image = gradient(900, 600);
    let upload = jpeg_with_segments(
        &jpeg(&image),
        &[
            exif_app1(1, true),
            jpeg_segment(
                0xE1,
                b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>secret</x:xmpmeta>",
            ),
            jpeg_segment(0xE2, b"ICC_PROFILE\0\x01\x01not really a profile"),
            jpeg_segment(0xFE, b"a secret comment"),
        ],
    );
    // The fixture does carry what must go, and the decoder sees it.
    let mut decoder = image::codecs::jpeg::JpegDecoder::new(Cursor::new(&upload)).unwrap();
    let exif = decoder.exif_metadata().unwrap().unwrap();
    assert!(contains(&exif, &gps_latitude_bytes()));
    assert!(contains(&upload, b"Exif\0\0"));
    assert!(jpeg_markers(&upload).contains(&0xE1));

    let processed = process(upload).await.unwrap();
    assert_shapes(&processed, (512, 341));
    for picture in [&processed.main, &processed.thumbnail] {
        assert_eq!(picture.format, PictureFormat::Jpeg);
        let bytes = &picture.bytes;
        let markers = jpeg_markers(bytes);
        assert!(
            !markers
                .iter()
                .any(|&m| (0xE1..=0xEF).contains(&m) || m == 0xFE),
            "metadata segments left: {markers:02X?}"
        );
        for needle in [
            b"Exif\0\0".as_slice(),
            b"MM\0\x2a",
            &gps_latitude_bytes(),
            &gps_longitude_bytes(),
            b"secret",
            b"ICC_PROFILE",
            b"http://ns.adobe.com",
        ] {
            assert!(!contains(bytes, needle), "{needle:?} survived");
        }
        let mut decoder = image::codecs::jpeg::JpegDecoder::new(Cursor::new(bytes)).unwrap();
        assert_eq!(decoder.exif_metadata().unwrap(), None);
        assert_eq!(decoder.icc_profile().unwrap(), None);
    }
}

#[tokio::test]
async fn png_metadata_is_stripped() {
    let upload = png_with_chunks(
        &png_rgba(&green_with_transparent_corner()),
        &[
            png_chunk(b"eXIf", &exif_tiff(1, true)),
            png_chunk(b"tEXt", b"Comment\0a secret comment"),
            png_chunk(b"zTXt", b"Title\0\0\x78\x9c\x03\0\0\0\0\x01"),
            png_chunk(b"iTXt", b"Author\0\0\0\0\0a secret author"),
            png_chunk(b"tIME", &[0x07, 0xE8, 1, 2, 3, 4, 5]),
        ],
    );
    let chunks = png_chunks(&upload);
    for chunk in ["eXIf", "tEXt", "zTXt", "iTXt", "tIME"] {
        assert!(chunks.iter().any(|c| c == chunk), "fixture lacks {chunk}");
    }

    let processed = process(upload).await.unwrap();
    for picture in [&processed.main, &processed.thumbnail] {
        assert_eq!(picture.format, PictureFormat::Png);
        let chunks = png_chunks(&picture.bytes);
        assert!(
            chunks
                .iter()
                .all(|c| ["IHDR", "IDAT", "IEND"].contains(&c.as_str())),
            "unexpected chunks: {chunks:?}"
        );
        for needle in [
            b"secret".as_slice(),
            b"MM\0\x2a",
            &gps_latitude_bytes(),
            &gps_longitude_bytes(),
        ] {
            assert!(!contains(&picture.bytes, needle), "{needle:?} survived");
        }
    }
}

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
