//! What the monitor reads back from a stored FITS file: the primary header (its cards
//! as text for the page, and the few values the index and the preview need, each card
//! read by `labwire-fits`), and the image's pixels row by row, so a preview never holds
//! a whole frame in memory.
//!
//! The monitor checks and shows frames; it does not write them (the camera daemon does),
//! so this is a reader of the primary HDU only: 2880-byte blocks of 80-character cards
//! up to `END`, then big-endian pixels (`BITPIX` 8, 16, 32, 64, -32 or -64), scaled by
//! `BZERO` / `BSCALE`.

use std::io::{self, Read};

/// A FITS file is made of blocks this long.
pub const BLOCK: usize = 2880;
const CARD: usize = 80;
/// Headers longer than this are refused rather than read without end.
pub const MAX_HEADER_BYTES: usize = 1024 * BLOCK;

/// The primary header: its cards as written, and where the data starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Every card up to and including `END`, trailing blanks removed.
    pub cards: Vec<String>,
    /// Bytes of header blocks: the data starts here.
    pub data_offset: u64,
}

impl Header {
    /// Read the header blocks of the stream, up to the one holding `END`.
    pub fn read(input: &mut impl Read) -> Result<Header, String> {
        let mut cards = Vec::new();
        let mut block = vec![0u8; BLOCK];
        let mut offset = 0u64;
        loop {
            if offset as usize >= MAX_HEADER_BYTES {
                return Err(format!("no END card in the first {MAX_HEADER_BYTES} bytes"));
            }
            input
                .read_exact(&mut block)
                .map_err(|err| match err.kind() {
                    io::ErrorKind::UnexpectedEof => {
                        "the header ends before its END card".to_string()
                    }
                    _ => format!("reading the header: {err}"),
                })?;
            if offset == 0 && !block.starts_with(b"SIMPLE  =") {
                return Err("not a FITS file (it does not start with SIMPLE)".into());
            }
            offset += BLOCK as u64;
            for raw in block.chunks(CARD) {
                if !raw.iter().all(|b| (0x20..0x7f).contains(b)) {
                    return Err("a header card holds bytes that are not printable ASCII".into());
                }
                let card = String::from_utf8_lossy(raw).trim_end().to_string();
                let end = card == "END";
                cards.push(card);
                if end {
                    return Ok(Header {
                        cards,
                        data_offset: offset,
                    });
                }
            }
        }
    }

    /// The value of keyword `key` (as `labwire-fits` normalizes it: upper case, levels
    /// separated by a space for `HIERARCH` ones), as text: strings without their quotes.
    pub fn value(&self, key: &str) -> Option<String> {
        self.cards.iter().find_map(|card| {
            let card = labwire_fits::Card::parse(&format!("{card:<80}")).ok()??;
            if card.keyword != key {
                return None;
            }
            Some(match card.value {
                labwire_fits::Value::Text(text) => text,
                labwire_fits::Value::Logical(flag) => if flag { "T" } else { "F" }.to_string(),
                labwire_fits::Value::Integer(n) => n.to_string(),
                labwire_fits::Value::Real(x) => x.to_string(),
                labwire_fits::Value::Undefined => String::new(),
            })
        })
    }

    pub fn number(&self, key: &str) -> Option<f64> {
        self.value(key)?.parse().ok()
    }

    /// The image layout: `BITPIX`, the first two axes, `BZERO` / `BSCALE`.
    pub fn image(&self) -> Result<ImageLayout, String> {
        let bitpix = self.number("BITPIX").ok_or("no BITPIX")? as i32;
        if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
            return Err(format!("BITPIX = {bitpix} is not a FITS pixel type"));
        }
        let naxis = self.number("NAXIS").ok_or("no NAXIS")? as u32;
        if naxis < 2 {
            return Err(format!("NAXIS = {naxis}: not an image"));
        }
        let axis = |n: u32| -> Result<u32, String> {
            let value = self
                .number(&format!("NAXIS{n}"))
                .ok_or(format!("no NAXIS{n}"))?;
            if !(1.0..=1_000_000.0).contains(&value) {
                return Err(format!("NAXIS{n} = {value}"));
            }
            Ok(value as u32)
        };
        Ok(ImageLayout {
            bitpix,
            width: axis(1)?,
            height: axis(2)?,
            bzero: self.number("BZERO").unwrap_or(0.0),
            bscale: self.number("BSCALE").unwrap_or(1.0),
            data_offset: self.data_offset,
        })
    }

    /// The cards as one text, 80 characters a line, as the index keeps them.
    pub fn text(&self) -> String {
        self.cards.join("\n")
    }
}

/// Where the pixels are and how to read them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageLayout {
    pub bitpix: i32,
    pub width: u32,
    pub height: u32,
    pub bzero: f64,
    pub bscale: f64,
    pub data_offset: u64,
}

impl ImageLayout {
    pub fn bytes_per_pixel(&self) -> usize {
        self.bitpix.unsigned_abs() as usize / 8
    }

    /// Bytes of the first image plane.
    pub fn data_bytes(&self) -> u64 {
        self.width as u64 * self.height as u64 * self.bytes_per_pixel() as u64
    }

    /// Call `row(y, values)` for each row from the first (y = 0, the bottom of the image
    /// in FITS' convention) with the physical values (`BZERO + BSCALE * stored`), reading
    /// `input` positioned at the data.
    pub fn for_each_row(
        &self,
        input: &mut impl Read,
        mut row: impl FnMut(u32, &[f64]),
    ) -> Result<(), String> {
        let width = self.width as usize;
        let size = self.bytes_per_pixel();
        let mut raw = vec![0u8; width * size];
        let mut values = vec![0f64; width];
        for y in 0..self.height {
            input.read_exact(&mut raw).map_err(|err| match err.kind() {
                io::ErrorKind::UnexpectedEof => format!("the data ends at row {y}"),
                _ => format!("reading row {y}: {err}"),
            })?;
            for (value, bytes) in values.iter_mut().zip(raw.chunks_exact(size)) {
                let stored = match self.bitpix {
                    8 => f64::from(bytes[0]),
                    16 => f64::from(i16::from_be_bytes([bytes[0], bytes[1]])),
                    32 => f64::from(i32::from_be_bytes(bytes.try_into().expect("4 bytes"))),
                    64 => i64::from_be_bytes(bytes.try_into().expect("8 bytes")) as f64,
                    -32 => f64::from(f32::from_be_bytes(bytes.try_into().expect("4 bytes"))),
                    _ => f64::from_be_bytes(bytes.try_into().expect("8 bytes")),
                };
                *value = self.bzero + self.bscale * stored;
            }
            row(y, &values);
        }
        Ok(())
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A header of `cards` padded to whole blocks.
    pub fn header_bytes(cards: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for card in cards.iter().chain(&["END"]) {
            out.extend_from_slice(format!("{card:<80}").as_bytes());
        }
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, b' ');
        out
    }

    /// An unsigned 16-bit image as FITS, pixels given bottom row first.
    pub fn u16_fits(width: u32, height: u32, pixel: impl Fn(u32, u32) -> u16) -> Vec<u8> {
        let mut out = header_bytes(&[
            "SIMPLE  =                    T",
            "BITPIX  =                   16",
            "NAXIS   =                    2",
            &format!("NAXIS1  = {width:>20}"),
            &format!("NAXIS2  = {height:>20}"),
            "BZERO   =                32768",
            "BSCALE  =                    1",
            "EXPTIME =                  1.5 / seconds",
            "IMAGETYP= 'object  '",
            "OBJECT  = 'it''s M42'",
            "DATE-OBS= '2026-12-02T01:30:00.000'",
            "HIERARCH GAUGE1 PRESSURE = 1.2E-05",
        ]);
        for y in 0..height {
            for x in 0..width {
                let stored = (i32::from(pixel(x, y)) - 32768) as i16;
                out.extend_from_slice(&stored.to_be_bytes());
            }
        }
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        out
    }

    #[test]
    fn header_values_and_layout() {
        let file = u16_fits(3, 2, |x, y| (x + 10 * y) as u16);
        let mut input = &file[..];
        let header = Header::read(&mut input).unwrap();
        assert_eq!(header.data_offset, BLOCK as u64);
        assert_eq!(header.cards.last().map(String::as_str), Some("END"));
        assert_eq!(header.value("IMAGETYP").as_deref(), Some("object"));
        assert_eq!(header.value("OBJECT").as_deref(), Some("it's M42"));
        assert_eq!(header.number("EXPTIME"), Some(1.5));
        assert_eq!(header.value("NOSUCH"), None);
        assert_eq!(header.number("GAUGE1 PRESSURE"), Some(1.2e-5));
        let layout = header.image().unwrap();
        assert_eq!((layout.width, layout.height, layout.bitpix), (3, 2, 16));
        let mut rows = Vec::new();
        layout
            .for_each_row(&mut input, |y, values| rows.push((y, values.to_vec())))
            .unwrap();
        assert_eq!(
            rows,
            [(0, vec![0.0, 1.0, 2.0]), (1, vec![10.0, 11.0, 12.0])]
        );
    }

    #[test]
    fn broken_files_are_named() {
        assert!(Header::read(&mut &b"hello"[..])
            .unwrap_err()
            .contains("END"));
        let not_fits = header_bytes(&["NOTFITS = 1"]);
        assert!(Header::read(&mut &not_fits[..])
            .unwrap_err()
            .contains("SIMPLE"));
        let mut no_end = format!("{:<80}", "SIMPLE  =                    T").into_bytes();
        no_end.resize(BLOCK, b' ');
        let err = Header::read(&mut &no_end[..]).unwrap_err();
        assert!(err.contains("before its END"), "{err}");
        let short = u16_fits(4, 4, |_, _| 1);
        let mut input = &short[..BLOCK + 10];
        let layout = Header::read(&mut input).unwrap().image().unwrap();
        let err = layout.for_each_row(&mut input, |_, _| {}).unwrap_err();
        assert!(err.contains("ends at row 1"), "{err}");
    }
}
