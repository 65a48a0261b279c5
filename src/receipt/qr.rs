//! A receipt as a QR code in a PNG image (FORMAT.md §14.3): the compact form, in
//! alphanumeric mode, at error correction level M; and the compact form read back from
//! such an image (any PNG a phone or scanner made of it, as long as it is sharp).

use std::io::Cursor;

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module: 4 keeps a version 25 code (about 1,400 characters) under
/// 600 pixels wide and still crisp when printed at 300 dpi on A6.
pub const MODULE_PIXELS: usize = 4;
/// The light border around the code, in modules: ISO/IEC 18004 asks for 4.
pub const QUIET_ZONE_MODULES: usize = 4;
/// The most bytes a PNG decoder may allocate while reading a receipt image: a phone's
/// 12-megapixel photo in RGBA is 48 MiB; this bounds what a hostile file costs.
pub const MAX_IMAGE_BYTES: usize = 64 * 1024 * 1024;

/// Why a QR image could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("the receipt does not fit in a QR code: {0}")]
    TooLong(String),
    #[error("the PNG could not be written: {0}")]
    Encode(String),
    #[error("not a PNG image this reader can use: {0}")]
    NotPng(String),
    #[error("no readable QR code in the image{0}")]
    NoCode(String),
}

/// The PNG bytes of a QR code holding `compact` (8-bit greyscale, black on white).
pub fn png(compact: &str) -> Result<Vec<u8>, QrError> {
    let code = QrCode::with_error_correction_level(compact.as_bytes(), EcLevel::M)
        .map_err(|e| QrError::TooLong(e.to_string()))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE_MODULES;
    let side = side_modules * MODULE_PIXELS;
    let mut pixels = vec![u8::MAX; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (
                i % modules + QUIET_ZONE_MODULES,
                i / modules + QUIET_ZONE_MODULES,
            );
            paint_module(&mut pixels, side, mx, my);
        }
    }
    encode_png(&pixels, side)
}

/// Blackens one module's square of pixels.
fn paint_module(pixels: &mut [u8], side: usize, mx: usize, my: usize) {
    for y in my * MODULE_PIXELS..(my + 1) * MODULE_PIXELS {
        let row = y * side;
        pixels[row + mx * MODULE_PIXELS..row + (mx + 1) * MODULE_PIXELS].fill(0);
    }
}

fn encode_png(pixels: &[u8], side: usize) -> Result<Vec<u8>, QrError> {
    let side = u32::try_from(side).map_err(|_| QrError::Encode("too large".into()))?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let encode = |e: png::EncodingError| QrError::Encode(e.to_string());
    let mut writer = encoder.write_header().map_err(encode)?;
    writer.write_image_data(pixels).map_err(encode)?;
    writer.finish().map_err(encode)?;
    Ok(out)
}

/// Whether `bytes` start with the PNG signature.
pub fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n")
}

/// The text of the first QR code found in a PNG image.
pub fn read_png(bytes: &[u8]) -> Result<String, QrError> {
    let (width, height, grey) = greyscale(bytes)?;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| grey[y * width + x]);
    let grids = image.detect_grids();
    let mut last_error = String::new();
    for grid in grids {
        match grid.decode() {
            Ok((_, text)) => return Ok(text),
            Err(e) => last_error = format!(": {e}"),
        }
    }
    Err(QrError::NoCode(last_error))
}

/// The image as one grey byte per pixel, whatever colour type the PNG has.
fn greyscale(bytes: &[u8]) -> Result<(usize, usize, Vec<u8>), QrError> {
    let not_png = |e: png::DecodingError| QrError::NotPng(e.to_string());
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: MAX_IMAGE_BYTES,
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(not_png)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| QrError::NotPng("too large".into()))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(not_png)?;
    let channels = info.color_type.samples();
    let (width, height) = (usize_of(info.width)?, usize_of(info.height)?);
    let mut grey = Vec::with_capacity(width * height);
    for y in 0..height {
        let row = &buf[y * info.line_size..];
        for x in 0..width {
            let px = &row[x * channels..(x + 1) * channels];
            grey.push(luma(px));
        }
    }
    Ok((width, height, grey))
}

fn usize_of(n: u32) -> Result<usize, QrError> {
    usize::try_from(n).map_err(|_| QrError::NotPng("too large".into()))
}

/// One pixel's grey level: the mean of its colour samples, alpha left out (the detector
/// thresholds the image itself).
fn luma(px: &[u8]) -> u8 {
    let colour = match px.len() {
        2 | 4 => &px[..px.len() - 1],
        _ => px,
    };
    let sum: usize = colour.iter().map(|&v| usize::from(v)).sum();
    let mean = sum / colour.len().max(1);
    u8::try_from(mean).expect("the mean of bytes is a byte")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_round_trips_through_png() {
        let text = "FTR1:BB8%69 VD92EX0".repeat(40);
        let bytes = png(&text).unwrap();
        assert!(is_png(&bytes));
        assert_eq!(read_png(&bytes).unwrap(), text);
    }

    #[test]
    fn unreadable_images_are_refused() {
        assert!(matches!(read_png(b"not a png"), Err(QrError::NotPng(_))));
        let blank = encode_png(&vec![u8::MAX; 64 * 64], 64).unwrap();
        assert!(matches!(read_png(&blank), Err(QrError::NoCode(_))));
        let too_long = "A".repeat(5000);
        assert!(matches!(png(&too_long), Err(QrError::TooLong(_))));
    }
}
