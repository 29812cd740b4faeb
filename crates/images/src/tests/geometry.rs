//! Accepted formats, geometry and transparency.

use super::*;

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
pub(super) fn green_with_transparent_corner() -> RgbaImage {
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
