//! EXIF orientation and metadata.

use super::{geometry::green_with_transparent_corner, *};

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
