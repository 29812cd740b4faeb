#![allow(clippy::unwrap_used)]

mod concurrency;
mod geometry;
mod metadata;
mod refused;

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
    png(image.as_raw(), image.dimensions(), ExtendedColorType::Rgb8)
}

fn png_rgba(image: &RgbaImage) -> Vec<u8> {
    png(image.as_raw(), image.dimensions(), ExtendedColorType::Rgba8)
}

/// A PNG of raw pixels of `color`.
fn png(raw: &[u8], (width, height): (u32, u32), color: ExtendedColorType) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(raw, width, height, color)
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
