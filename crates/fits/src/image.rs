//! A primary HDU holding one unsigned 16-bit image: `BITPIX = 16` with `BZERO = 32768`
//! and `BSCALE = 1` (FITS has no unsigned integers; a stored pixel is the value minus
//! 32768, big-endian), the header and the data each padded to 2880-byte blocks.
//!
//! The writer is split so a camera can stream pixels straight into the file's buffer:
//! [`image_header`] first, then [`push_le_pixels`] for each piece of the readout, then
//! [`pad_data`] (or [`le_to_fits`] into a file sized beforehand with [`file_len`]). [`write_u16_image`] does all three for pixels already in memory.

use crate::card::{is_reserved, Card, CardError, Header, Value, CARD};
use std::fmt;

/// FITS files are made of blocks of this many bytes.
pub const BLOCK: usize = 2880;

/// The bytes of a file holding `width x height` pixels.
pub fn file_len(header_len: usize, width: usize, height: usize) -> usize {
    header_len + padded(width * height * 2)
}

fn padded(len: usize) -> usize {
    len.div_ceil(BLOCK) * BLOCK
}

/// The header of a `width x height` unsigned 16-bit image with `extra`'s cards after the
/// structural ones, padded to whole blocks.
pub fn image_header(extra: &Header, width: usize, height: usize) -> Result<Vec<u8>, CardError> {
    if let Some(card) = extra.cards().iter().find(|c| is_reserved(&c.keyword)) {
        return Err(CardError::Reserved(card.keyword.clone()));
    }
    let mut header = Header::new();
    let structural = [
        (
            "SIMPLE",
            Value::Logical(true),
            "conforms to FITS standard 4.0",
        ),
        ("BITPIX", Value::Integer(16), "16-bit integers"),
        ("NAXIS", Value::Integer(2), "an image"),
        ("NAXIS1", Value::Integer(width as i64), "columns"),
        ("NAXIS2", Value::Integer(height as i64), "rows"),
        (
            "BZERO",
            Value::Integer(32768),
            "unsigned 16-bit: value = stored + 32768",
        ),
        ("BSCALE", Value::Integer(1), ""),
    ];
    for (keyword, value, comment) in structural {
        let comment = (!comment.is_empty()).then_some(comment);
        let (card, _) = Card::new(keyword, value, comment)?;
        header.push_card(card);
    }
    let mut bytes = Vec::with_capacity(padded((header.len() + extra.len() + 1) * CARD));
    for card in header.cards().iter().chain(extra.cards()) {
        bytes.extend_from_slice(card.to_line().as_bytes());
    }
    bytes.extend_from_slice(format!("{:<CARD$}", "END").as_bytes());
    bytes.resize(padded(bytes.len()), b' ');
    Ok(bytes)
}

/// Append little-endian unsigned 16-bit pixels (as a camera sends them) in FITS order.
/// `le` must have an even length.
pub fn push_le_pixels(file: &mut Vec<u8>, le: &[u8]) {
    let start = file.len();
    file.resize(start + le.len(), 0);
    le_to_fits(&mut file[start..], le);
}

/// Write little-endian unsigned 16-bit pixels into `out` (as long as `le`) in FITS
/// order: for a file sized beforehand ([`file_len`]), filled piece by piece.
pub fn le_to_fits(out: &mut [u8], le: &[u8]) {
    debug_assert!(le.len().is_multiple_of(2) && out.len() == le.len());
    // Four pixels at a time as one 64-bit word (the compiler makes vector code of it): a
    // camera's readout goes through here at the speed of memory.
    let mut words_out = out.chunks_exact_mut(8);
    let mut words_in = le.chunks_exact(8);
    for (out, word) in (&mut words_out).zip(&mut words_in) {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        out.copy_from_slice(&swap_to_fits(word).to_le_bytes());
    }
    for (out, pixel) in words_out
        .into_remainder()
        .chunks_exact_mut(2)
        .zip(words_in.remainder().chunks_exact(2))
    {
        out[0] = pixel[1] ^ 0x80;
        out[1] = pixel[0];
    }
}

/// Four little-endian pixels in a word, as FITS stores them: each pixel's two bytes
/// swapped, and 32768 subtracted (for an unsigned 16-bit value that is flipping its top
/// bit, which after the swap is the top bit of the pixel's first byte).
fn swap_to_fits(word: u64) -> u64 {
    const LOW_BYTES: u64 = 0x00FF_00FF_00FF_00FF;
    const TOP_BITS: u64 = 0x0080_0080_0080_0080;
    (((word & LOW_BYTES) << 8) | ((word >> 8) & LOW_BYTES)) ^ TOP_BITS
}

/// Pad the data to whole blocks (with zeros, as the standard asks).
pub fn pad_data(file: &mut Vec<u8>) {
    file.resize(padded(file.len()), 0);
}

/// A whole file for pixels in memory, row by row from the bottom-left (FITS order).
pub fn write_u16_image(
    extra: &Header,
    width: usize,
    height: usize,
    pixels: &[u16],
) -> Result<Vec<u8>, CardError> {
    assert_eq!(pixels.len(), width * height, "pixels for {width}x{height}");
    let mut file = image_header(extra, width, height)?;
    file.reserve_exact(file_len(0, width, height));
    for &pixel in pixels {
        file.extend_from_slice(&(pixel ^ 0x8000).to_be_bytes());
    }
    pad_data(&mut file);
    Ok(file)
}

/// An image read back from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Every valued card, the structural ones included.
    pub header: Header,
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u16>,
}

/// Why a file is not an unsigned 16-bit image this reader understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    Card(CardError),
    /// No `END` card before the end of the bytes.
    NoEnd,
    /// A structural keyword is missing or not what an unsigned 16-bit image has.
    NotU16Image(String),
    /// Fewer bytes than the header and padded data need.
    Short {
        needed: usize,
        got: usize,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Card(err) => err.fmt(f),
            ReadError::NoEnd => f.write_str("no END card"),
            ReadError::NotU16Image(why) => write!(f, "not an unsigned 16-bit image: {why}"),
            ReadError::Short { needed, got } => {
                write!(f, "file is {got} bytes, its header announces {needed}")
            }
        }
    }
}

impl std::error::Error for ReadError {}

impl From<CardError> for ReadError {
    fn from(err: CardError) -> Self {
        ReadError::Card(err)
    }
}

/// Read the header (every valued card) and its length in bytes, padding included.
pub fn read_header(bytes: &[u8]) -> Result<(Header, usize), ReadError> {
    let mut header = Header::new();
    for (index, raw) in bytes.chunks_exact(CARD).enumerate() {
        let line = std::str::from_utf8(raw)
            .map_err(|_| CardError::Unreadable(String::from_utf8_lossy(raw).into_owned()))?;
        if line.trim_end() == "END" {
            return Ok((header, padded((index + 1) * CARD)));
        }
        if let Some(card) = Card::parse(line)? {
            header.push_card(card);
        }
    }
    Err(ReadError::NoEnd)
}

/// Read a whole file written by [`write_u16_image`] (or anyone writing the same kind).
pub fn read_u16_image(bytes: &[u8]) -> Result<Image, ReadError> {
    let (header, header_len) = read_header(bytes)?;
    let wrong = |why: &str| ReadError::NotU16Image(why.to_string());
    let integer = |key: &str| header.get(key).and_then(Value::as_integer);
    if header.get("SIMPLE") != Some(&Value::Logical(true)) {
        return Err(wrong("SIMPLE is not T"));
    }
    if integer("BITPIX") != Some(16) || integer("NAXIS") != Some(2) {
        return Err(wrong("BITPIX is not 16 or NAXIS not 2"));
    }
    if integer("BZERO") != Some(32768) || header.get("BSCALE").and_then(Value::as_real) != Some(1.0)
    {
        return Err(wrong("BZERO is not 32768 or BSCALE not 1"));
    }
    let axis = |key| {
        integer(key)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| wrong("NAXISn is missing or negative"))
    };
    let (width, height) = (axis("NAXIS1")?, axis("NAXIS2")?);
    let needed = file_len(header_len, width, height);
    if bytes.len() < needed {
        return Err(ReadError::Short {
            needed,
            got: bytes.len(),
        });
    }
    let data = &bytes[header_len..header_len + width * height * 2];
    let pixels = data
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]) ^ 0x8000)
        .collect();
    Ok(Image {
        header,
        width,
        height,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extra() -> Header {
        let mut header = Header::new();
        header
            .push("OBJECT", Value::Text("it's M31".into()), Some("target"))
            .unwrap();
        header.push("EXPTIME", Value::Real(2.5), Some("s")).unwrap();
        header
            .push("cryo.temp_a", Value::Real(-173.15), Some("degC"))
            .unwrap();
        header
    }

    #[test]
    fn pixels_and_header_read_back() {
        let (width, height) = (37, 11);
        let pixels: Vec<u16> = (0..width * height)
            .map(|i| ((i as u32).wrapping_mul(2654435761) >> 16) as u16)
            .chain([0, 65535, 32768, 32767])
            .skip(4)
            .collect();
        let file = write_u16_image(&extra(), width, height, &pixels).unwrap();
        assert!(file.len().is_multiple_of(BLOCK));
        let image = read_u16_image(&file).unwrap();
        assert_eq!((image.width, image.height), (width, height));
        assert_eq!(image.pixels, pixels);
        let header = &image.header;
        assert_eq!(
            header.get("OBJECT").and_then(Value::as_text),
            Some("it's M31")
        );
        assert_eq!(
            header.get("cryo.temp_a").and_then(Value::as_real),
            Some(-173.15)
        );
        assert_eq!(header.cards()[0].keyword, "SIMPLE");
        assert_eq!(header.cards()[5].keyword, "BZERO");
    }

    #[test]
    fn extreme_values_are_stored_as_signed_with_bzero() {
        let file = write_u16_image(&Header::new(), 4, 1, &[0, 1, 32768, 65535]).unwrap();
        let (_, header_len) = read_header(&file).unwrap();
        assert_eq!(header_len, BLOCK);
        let data = &file[header_len..header_len + 8];
        let stored: Vec<i16> = data
            .chunks_exact(2)
            .map(|p| i16::from_be_bytes([p[0], p[1]]))
            .collect();
        assert_eq!(stored, [-32768, -32767, 0, 32767]);
        assert!(file[header_len + 8..].iter().all(|&b| b == 0));
    }

    #[test]
    fn streaming_little_endian_pixels_gives_the_same_file() {
        let pixels: Vec<u16> = (0..300u16).map(|i| i.wrapping_mul(517)).collect();
        let whole = write_u16_image(&extra(), 20, 15, &pixels).unwrap();
        let le: Vec<u8> = pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
        let mut streamed = image_header(&extra(), 20, 15).unwrap();
        for piece in le.chunks(64) {
            push_le_pixels(&mut streamed, piece);
        }
        pad_data(&mut streamed);
        assert_eq!(streamed, whole);
        assert_eq!(streamed.len(), file_len(BLOCK, 20, 15));
        // Pieces that are not whole 64-bit words take the pixel-by-pixel path.
        let mut uneven = image_header(&extra(), 20, 15).unwrap();
        let mut rest = &le[..];
        for size in [2, 6, 10, 14, 18].into_iter().cycle() {
            let (piece, after) = rest.split_at(size.min(rest.len()));
            push_le_pixels(&mut uneven, piece);
            rest = after;
            if rest.is_empty() {
                break;
            }
        }
        pad_data(&mut uneven);
        assert_eq!(uneven, whole);
    }

    #[test]
    fn reserved_extra_cards_and_truncated_files_are_refused() {
        let mut bad = Header::new();
        bad.push("BZERO", Value::Integer(0), None).unwrap();
        assert!(matches!(
            image_header(&bad, 1, 1),
            Err(CardError::Reserved(_))
        ));
        let file = write_u16_image(&Header::new(), 100, 100, &vec![7; 10_000]).unwrap();
        assert!(matches!(
            read_u16_image(&file[..file.len() - BLOCK]),
            Err(ReadError::Short { .. })
        ));
        assert_eq!(read_u16_image(&file[..400]), Err(ReadError::NoEnd));
    }
}
