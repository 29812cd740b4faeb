//! The [`PictureProcessor`] adapter: turns an uploaded picture into a main picture of at most
//! 512×512 and a 128×128 thumbnail with the `image` crate.
//!
//! Steps, all but the first on a blocking thread (never on the async executor), at most one
//! per CPU at a time:
//!
//! 1. The format is told by the magic numbers of the bytes alone: JPEG, PNG, WebP and GIF
//!    (first frame) are accepted, anything else is [`PictureError::UnsupportedFormat`].
//! 2. The header is read and an image with more than `max_pixels` pixels is refused with
//!    [`PictureError::TooManyPixels`] before a single pixel is decoded (decompression bombs).
//!    So is an image whose decoded pixels would take more than [`MAX_DECODE_BYTES`]
//!    ([`PictureError::TooMuchMemory`]: deep 16-bit pictures under the pixel limit).
//!    [`image::Limits`] on the sides and on the decoder's allocations are a second line of
//!    defence.
//! 3. The pixels are decoded (a truncated or corrupt file is [`PictureError::Undecodable`]) and
//!    the EXIF orientation is applied. A large JPEG is decoded at a reduced scale (1/2, 1/4 or
//!    1/8, done by the inverse DCT itself) that still leaves at least twice the pixels both
//!    pictures need, so a 2400×1600 photo is decoded to 1200×800: a quarter of the memory
//!    and much less time, for the same result.
//! 4. Both pictures are resampled with Lanczos3 and re-encoded: PNG when some pixel is not fully
//!    opaque, JPEG (quality 85) otherwise. The encoders write pixels only, so no metadata of the
//!    upload (EXIF with GPS, XMP, ICC profiles, comments, text chunks) survives.

use std::{io::Cursor, sync::Arc};

use anyhow::anyhow;
use async_trait::async_trait;
use bytes::Bytes;
use image::{
    DynamicImage, GenericImageView, ImageBuffer, ImageDecoder, ImageEncoder, ImageError,
    ImageFormat, ImageReader, Limits, Pixel, RgbImage, RgbaImage,
    codecs::{
        jpeg::JpegEncoder,
        png::{CompressionType, FilterType as PngFilter, PngEncoder},
    },
    error::LimitErrorKind,
    imageops::{self, FilterType},
    metadata::Orientation,
};
use tokio::sync::Semaphore;
use um_cpu_pool::{CpuPool, Priority};
use um_domain::{
    model::PictureFormat,
    ports::{EncodedPicture, PictureError, PictureProcessor, ProcessedPicture},
};

/// The main picture fits within a square of this side; smaller pictures are not enlarged.
pub const MAIN_MAX_SIDE: u32 = 512;
/// The thumbnail is a square of exactly this side.
pub const THUMBNAIL_SIDE: u32 = 128;
/// Quality of the JPEG encoder (1–100).
pub const JPEG_QUALITY: u8 = 85;
/// No side may be longer than this, whatever `max_pixels` allows: the largest side JPEG and GIF
/// can express. A second line of defence behind the pixel count.
pub const MAX_SIDE: u32 = 65_535;
/// Budget of decoder allocations per allowed pixel: the decoded buffer of the widest pixel type
/// we accept (16-bit RGBA, 8 bytes) plus room for the decoder's own buffers (a GIF frame is
/// decoded into a second RGBA buffer).
const ALLOC_BYTES_PER_PIXEL: u64 = 16;
/// The most memory one decoded picture may take, whatever its pixel count: 40 megapixels of
/// 8-bit RGBA fit, but a 16-bit RGBA PNG of 6300×6300 (a 300 KB file) would need 303 MiB and is
/// refused from its header. The decoder's own allocations get [`DECODER_HEADROOM`] on top.
pub const MAX_DECODE_BYTES: u64 = 160 * 1024 * 1024;
/// Room for the decoder's own buffers beside the decoded picture.
const DECODER_HEADROOM: u64 = 32 * 1024 * 1024;
/// The resampling filter of both pictures.
const FILTER: FilterType = FilterType::Lanczos3;
/// A source at least this many times larger than its target is first shrunk by area averaging
/// to this many times the target, so that Lanczos3 works on a few hundred pixels per row instead
/// of thousands; the result is indistinguishable and much faster.
const PRESHRINK_FACTOR: u32 = 2;

/// How much memory (bytes, estimated by [`decode_cost`]) the pictures being decoded at once may
/// take together. Pictures wait for their share of it as well as for a thread: two 2400×1600
/// photos (about 10 MB each, decoded at half size) are not decoded at once, a dozen avatars
/// are. A picture larger than the whole budget waits until it has the budget to itself.
pub const DECODE_MEMORY_BUDGET: u64 = 16 * 1024 * 1024;

/// Validates, decodes and re-encodes uploaded pictures with the `image` crate.
#[derive(Debug, Clone)]
pub struct ImageProcessor {
    max_pixels: u64,
    workers: CpuPool,
    /// [`DECODE_MEMORY_BUDGET`] in KiB permits.
    memory: Arc<Semaphore>,
}

impl ImageProcessor {
    /// A processor refusing images of more than `max_pixels` pixels, working on at most as many
    /// pictures at a time as there are CPUs, on background-priority threads.
    #[must_use]
    pub fn new(max_pixels: u64) -> Self {
        Self::with_concurrency(max_pixels, um_cpu_pool::cores())
    }

    /// A processor working on at most `concurrency` pictures at a time (at least one); others
    /// wait their turn. Each one may hold several hundred megabytes while it is decoded.
    #[must_use]
    pub fn with_concurrency(max_pixels: u64, concurrency: usize) -> Self {
        Self {
            max_pixels,
            workers: CpuPool::new("pictures", concurrency, Priority::Background),
            memory: Arc::new(Semaphore::new(kib_permits(DECODE_MEMORY_BUDGET) as usize)),
        }
    }

    /// The largest number of pixels accepted.
    #[must_use]
    pub fn max_pixels(&self) -> u64 {
        self.max_pixels
    }

    /// Runs `work` on a worker once one is free; it runs to its end even if the caller gives
    /// up waiting.
    async fn run_blocking<T, F>(&self, work: F) -> Result<T, PictureError>
    where
        F: FnOnce() -> Result<T, PictureError> + Send + 'static,
        T: Send + 'static,
    {
        self.workers
            .run(work)
            .await
            .map_err(|e| PictureError::Internal(anyhow!(e)))?
    }
}

#[async_trait]
impl PictureProcessor for ImageProcessor {
    async fn process(&self, upload: Bytes) -> Result<ProcessedPicture, PictureError> {
        // Cheap, so done before queueing: an upload of the wrong kind needs no permit.
        let format = detect_format(&upload)?;
        let max_pixels = self.max_pixels;
        // The picture's share of the memory budget, held until it is rendered. An unreadable
        // header costs the least: the decoder refuses such a picture at once.
        let cost = kib_permits(decode_cost(&upload, format).min(DECODE_MEMORY_BUDGET)).max(1);
        let _memory = self
            .memory
            .acquire_many(cost)
            .await
            .map_err(|e| PictureError::Internal(anyhow!(e)))?;
        self.run_blocking(move || {
            let image = on_this_thread_alone(|| decode(&upload, format, max_pixels));
            drop(upload);
            let rendered = image.and_then(render);
            // The decode's blocks are freed on this thread, and the allocator gives a thread's
            // freed pages back only when that thread asks it to: without this, each pictures
            // thread held some 4 MiB of them between uploads (docs/benchmarks.md).
            um_alloc::collect();
            rendered
        })
        .await
    }
}

thread_local! {
    /// A rayon pool made of this thread alone (none when it cannot be built).
    static THIS_THREAD_ALONE: Option<rayon::ThreadPool> = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .use_current_thread()
        .build()
        .ok();
}

/// Runs `f` so that the rayon work inside it (the JPEG decoder's, per colour component) runs on
/// the calling thread. Left to itself, `jpeg-decoder` starts a thread per component for every
/// picture over 128×128 pixels: about a thousand short-lived threads in a benchmark of a few
/// hundred uploads, each with an allocator heap of its own that it left behind when it ended
/// (picture reads right after such a run: 95 MiB, 83 without the threads; docs/benchmarks.md).
/// The pictures pool already decodes several pictures at once; one picture needs no more
/// threads. (rayon keeps the registry of a pool joined this way for good: one per pictures
/// thread, and those live as long as the service.)
fn on_this_thread_alone<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    THIS_THREAD_ALONE.with(|pool| match pool {
        Some(pool) => pool.install(f),
        None => f(),
    })
}

/// The width and height in the header. For a JPEG, `image`'s decoder would first copy the
/// whole upload (it decodes from memory of its own); `jpeg-decoder` reads the header in place.
fn dimensions(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    if format == ImageFormat::Jpeg {
        let mut decoder = jpeg_decoder::Decoder::new(bytes);
        decoder.read_info().ok()?;
        let info = decoder.info()?;
        return Some((u32::from(info.width), u32::from(info.height)));
    }
    ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .ok()
}

/// `bytes` in whole KiB, as semaphore permits.
fn kib_permits(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// The memory that decoding and rendering a picture takes, estimated from its header: the
/// decoded pixels at the scale the decoder will use (a JPEG at 1/2, 1/4 or 1/8 when that keeps
/// [`needed_size`]), twice (the decoded picture and its oriented or pre-shrunk copy), at four
/// bytes a pixel, plus the two rendered pictures. 0 when the header cannot be read.
fn decode_cost(bytes: &[u8], format: ImageFormat) -> u64 {
    let Some((width, height)) = dimensions(bytes, format) else {
        return 0;
    };
    let (mut w, mut h) = (u64::from(width), u64::from(height));
    if format == ImageFormat::Jpeg {
        let (need_w, need_h) = needed_size(width, height);
        while w / 2 >= u64::from(need_w) && h / 2 >= u64::from(need_h) && w > 1 && h > 1 {
            (w, h) = (w.div_ceil(2), h.div_ceil(2));
            if w * 8 <= u64::from(width) {
                break; // 1/8 is the smallest scale
            }
        }
    }
    let rendered = u64::from(MAIN_MAX_SIDE * MAIN_MAX_SIDE + THUMBNAIL_SIDE * THUMBNAIL_SIDE) * 4;
    w * h * 4 * 2 + rendered
}

/// The format as told by the magic numbers; only the four accepted ones pass.
fn detect_format(bytes: &[u8]) -> Result<ImageFormat, PictureError> {
    match image::guess_format(bytes) {
        Ok(
            format @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif),
        ) => Ok(format),
        _ => Err(PictureError::UnsupportedFormat),
    }
}

/// The limits the decoder works under once the header has been accepted.
fn limits(max_pixels: u64) -> Limits {
    let max_side = u32::try_from(max_pixels).unwrap_or(u32::MAX).min(MAX_SIDE);
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(
        max_pixels
            .saturating_mul(ALLOC_BYTES_PER_PIXEL)
            .min(MAX_DECODE_BYTES + DECODER_HEADROOM),
    );
    limits
}

/// Reads the header, refuses too many pixels, then decodes the pixels (of the first frame) and
/// applies the EXIF orientation.
fn decode(
    bytes: &[u8],
    format: ImageFormat,
    max_pixels: u64,
) -> Result<DynamicImage, PictureError> {
    let limits = limits(max_pixels);

    // Only the allocation limit while the header is read (the PNG decoder takes its limits at
    // construction): with side limits the header of a bomb would fail without telling its size.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut header_limits = Limits::no_limits();
    header_limits.max_alloc = limits.max_alloc;
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(undecodable)?;

    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(PictureError::TooManyPixels {
            width,
            height,
            max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(PictureError::Undecodable("the image has no pixels".into()));
    }
    let needed = decoder.total_bytes();
    if needed > MAX_DECODE_BYTES {
        const MIB: u64 = 1024 * 1024;
        return Err(PictureError::TooMuchMemory {
            width,
            height,
            bytes_per_pixel: u64::from(decoder.color_type().bytes_per_pixel()),
            needed_mib: needed.div_ceil(MIB),
            max_mib: MAX_DECODE_BYTES / MIB,
        });
    }
    // The JPEG decoder is lenient and paints what is missing grey; a cut-off upload must fail.
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(PictureError::Undecodable(TRUNCATED.into()));
    }

    // A broken EXIF block is no reason to refuse the picture; it is shown as stored.
    let orientation = decoder.orientation().unwrap_or_else(|e| {
        tracing::debug!(error = %e, "unreadable EXIF orientation ignored");
        Orientation::NoTransforms
    });

    // Second line of defence, as `ImageReader::decode` does it: the output buffer counts
    // against the allocation limit, the decoder gets the rest.
    let mut limits = limits;
    limits.reserve(decoder.total_bytes()).map_err(undecodable)?;
    decoder.set_limits(limits).map_err(undecodable)?;

    let reduced = (format == ImageFormat::Jpeg)
        .then(|| decode_jpeg_reduced(bytes, (width, height), max_pixels))
        .flatten();
    let mut image = match reduced {
        Some(image) => image,
        None => DynamicImage::from_decoder(decoder).map_err(undecodable)?,
    };
    image.apply_orientation(orientation);
    Ok(image)
}

/// The size a `width`×`height` source must keep for both pictures to come out as from the
/// full-size source: twice the main picture's long side and twice the thumbnail's side on
/// the short side (the resampling shrinks by at least 2 anyway; see [`PRESHRINK_FACTOR`]).
fn needed_size(width: u32, height: u32) -> (u32, u32) {
    let (long, short) = (width.max(height), width.min(height));
    let factor = f64::max(
        f64::from(MAIN_MAX_SIDE * PRESHRINK_FACTOR) / f64::from(long),
        f64::from(THUMBNAIL_SIDE * PRESHRINK_FACTOR) / f64::from(short),
    )
    .min(1.0);
    let scaled = |side: u32| {
        // In range: `factor` ≤ 1, so the result is at most `side`.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let scaled = (f64::from(side) * factor).ceil() as u32;
        scaled.clamp(1, side)
    };
    (scaled(width), scaled(height))
}

/// A JPEG decoded at the smallest scale that keeps [`needed_size`], or `None` when a reduced
/// decode gains nothing or cannot be done here (16-bit or CMYK pixels, a decoder error): the
/// caller then decodes at full size with `image`, which also words the errors.
fn decode_jpeg_reduced(
    bytes: &[u8],
    (width, height): (u32, u32),
    max_pixels: u64,
) -> Option<DynamicImage> {
    let (need_width, need_height) = needed_size(width, height);
    if need_width.saturating_mul(2) > width || need_height.saturating_mul(2) > height {
        return None; // not even 1/2 would do
    }
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.set_max_decoding_buffer_size(
        usize::try_from(max_pixels.saturating_mul(ALLOC_BYTES_PER_PIXEL)).unwrap_or(usize::MAX),
    );
    decoder.read_info().ok()?;
    decoder
        .scale(
            u16::try_from(need_width).ok()?,
            u16::try_from(need_height).ok()?,
        )
        .ok()?;
    let info = decoder.info()?;
    let pixels = decoder.decode().ok()?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => {
            RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
        }
        jpeg_decoder::PixelFormat::L8 => {
            image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
        }
        jpeg_decoder::PixelFormat::L16 | jpeg_decoder::PixelFormat::CMYK32 => None,
    }
}

const TRUNCATED: &str = "the image data is truncated";

/// Whether a JPEG runs on to its end-of-image marker. Segments are skipped by their length, so
/// an EOI inside metadata (an EXIF thumbnail) does not count; in entropy-coded data a 0xFF is
/// followed by a stuffed zero or a restart marker, which have no length, so any other marker
/// found there ends the scan. Stray bytes between segments are tolerated, as libjpeg does;
/// bytes after the EOI are ignored.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    const EOI: u8 = 0xD9;
    let mut at = 2; // past SOI
    while at < bytes.len() {
        let Some(offset) = bytes[at..].iter().position(|&b| b == 0xFF) else {
            return false;
        };
        at += offset;
        while bytes.get(at + 1) == Some(&0xFF) {
            at += 1; // fill bytes
        }
        let Some(&marker) = bytes.get(at + 1) else {
            return false;
        };
        at += 2;
        match marker {
            EOI => return true,
            // Stuffed zero, TEM, restart markers, SOI: no length follows.
            0x00 | 0x01 | 0xD0..=0xD8 => {}
            _ => {
                let Some(&[high, low]) = bytes.get(at..at + 2) else {
                    return false;
                };
                at += usize::from(u16::from_be_bytes([high, low]));
            }
        }
    }
    false
}

/// A short reason for a decoding failure, fit to be shown to the uploader.
fn undecodable(err: ImageError) -> PictureError {
    let reason = match &err {
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            TRUNCATED.to_owned()
        }
        ImageError::Limits(limit) => match limit.kind() {
            LimitErrorKind::DimensionError => {
                format!("the image is wider or taller than {MAX_SIDE} pixels")
            }
            _ => "decoding the image would need too much memory".to_owned(),
        },
        other => other.to_string(),
    };
    PictureError::Undecodable(shorten(&reason))
}

fn shorten(reason: &str) -> String {
    const MAX_CHARS: usize = 200;
    let mut reason = reason.trim().to_owned();
    if let Some((cut, _)) = reason.char_indices().nth(MAX_CHARS) {
        reason.truncate(cut);
        reason.push('…');
    }
    reason
}

/// Resamples and encodes both pictures: PNG when transparency is used, JPEG otherwise.
fn render(image: DynamicImage) -> Result<ProcessedPicture, PictureError> {
    if image.color().has_alpha() {
        let mut rgba = image.into_rgba8();
        if rgba.pixels().any(|p| p[3] < u8::MAX) {
            // Resampling straight alpha bleeds the colour of invisible pixels into the edges.
            premultiply(&mut rgba);
            let mut main = fit_within(&rgba, MAIN_MAX_SIDE);
            let mut thumbnail = square_thumbnail(&rgba, THUMBNAIL_SIDE);
            drop(rgba);
            unpremultiply(&mut main);
            unpremultiply(&mut thumbnail);
            return Ok(ProcessedPicture {
                main: encode_png(&main)?,
                thumbnail: encode_png(&thumbnail)?,
            });
        }
        return render_opaque(&DynamicImage::ImageRgba8(rgba).into_rgb8());
    }
    render_opaque(&image.into_rgb8())
}

fn render_opaque(rgb: &RgbImage) -> Result<ProcessedPicture, PictureError> {
    Ok(ProcessedPicture {
        main: encode_jpeg(&fit_within(rgb, MAIN_MAX_SIDE))?,
        thumbnail: encode_jpeg(&square_thumbnail(rgb, THUMBNAIL_SIDE))?,
    })
}

/// The size of a `width`×`height` picture shrunk, keeping its aspect ratio, to fit within a
/// square of side `max`; a picture that fits already keeps its size.
fn fitted_size(width: u32, height: u32, max: u32) -> (u32, u32) {
    if width <= max && height <= max {
        return (width, height);
    }
    let scale = |short: u32, long: u32| {
        let scaled = (u64::from(short) * u64::from(max) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(scaled).unwrap_or(max).clamp(1, max)
    };
    if width >= height {
        (max, scale(height, width))
    } else {
        (scale(width, height), max)
    }
}

fn fit_within<P>(image: &ImageBuffer<P, Vec<u8>>, max: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let (width, height) = fitted_size(image.width(), image.height(), max);
    if (width, height) == image.dimensions() {
        return image.clone();
    }
    resample(image, width, height)
}

/// The centred square crop scaled to `side`×`side`, enlarged if need be.
fn square_thumbnail<P>(image: &ImageBuffer<P, Vec<u8>>, side: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let (width, height) = image.dimensions();
    let crop = width.min(height);
    let square = imageops::crop_imm(image, (width - crop) / 2, (height - crop) / 2, crop, crop);
    resample(&*square, side, side)
}

fn resample<I, P>(image: &I, width: u32, height: u32) -> ImageBuffer<P, Vec<u8>>
where
    I: GenericImageView<Pixel = P>,
    P: Pixel<Subpixel = u8> + 'static,
{
    let (src_width, src_height) = image.dimensions();
    if src_width >= width.saturating_mul(PRESHRINK_FACTOR * 2)
        && src_height >= height.saturating_mul(PRESHRINK_FACTOR * 2)
    {
        let coarse =
            imageops::thumbnail(image, width * PRESHRINK_FACTOR, height * PRESHRINK_FACTOR);
        return imageops::resize(&coarse, width, height, FILTER);
    }
    imageops::resize(image, width, height, FILTER)
}

fn premultiply(image: &mut RgbaImage) {
    for pixel in image.pixels_mut() {
        let [r, g, b, a] = &mut pixel.0;
        for channel in [r, g, b] {
            *channel = div_255(u32::from(*channel) * u32::from(*a));
        }
    }
}

fn unpremultiply(image: &mut RgbaImage) {
    for pixel in image.pixels_mut() {
        let [r, g, b, a] = &mut pixel.0;
        match *a {
            0 => {
                *r = 0;
                *g = 0;
                *b = 0;
            }
            u8::MAX => {}
            alpha => {
                let alpha = u32::from(alpha);
                for channel in [r, g, b] {
                    let straight = (u32::from(*channel) * 255 + alpha / 2) / alpha;
                    *channel = u8::try_from(straight).unwrap_or(u8::MAX);
                }
            }
        }
    }
}

/// `x / 255`, rounded, for `x` up to 255².
fn div_255(x: u32) -> u8 {
    u8::try_from((x + 127) / 255).unwrap_or(u8::MAX)
}

fn encode_jpeg(image: &RgbImage) -> Result<EncodedPicture, PictureError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(image)
        .map_err(|e| PictureError::Internal(anyhow!(e).context("encoding JPEG")))?;
    Ok(encoded(out, PictureFormat::Jpeg, image.dimensions()))
}

fn encode_png(image: &RgbaImage) -> Result<EncodedPicture, PictureError> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Best, PngFilter::Adaptive)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgba8,
        )
        .map_err(|e| PictureError::Internal(anyhow!(e).context("encoding PNG")))?;
    Ok(encoded(out, PictureFormat::Png, image.dimensions()))
}

fn encoded(bytes: Vec<u8>, format: PictureFormat, (width, height): (u32, u32)) -> EncodedPicture {
    EncodedPicture {
        bytes: Bytes::from(bytes),
        format,
        width,
        height,
    }
}

#[cfg(test)]
mod tests;
