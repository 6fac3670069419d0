//! A small FITS (Flexible Image Transport System, standard 4.0) writer for the frames of
//! a CCD camera, and the reader its tests (and the daemon's tests) check them with.
//!
//! Layout:
//! - [`card`]: header cards: keywords (ESO `HIERARCH` for long ones), values, the
//!   80-character formatting and the parsing back; [`Header`], cards in order.
//! - [`image`]: a primary HDU with an unsigned 16-bit image (`BITPIX = 16`,
//!   `BZERO = 32768`, `BSCALE = 1`), written as 2880-byte blocks (whole, or streamed
//!   piece by piece into one buffer) and read back.
//!
//! Over-long string values are cut to what fits on one card, never continued with
//! `CONTINUE` cards: the ESO `HIERARCH` convention defines no continuation, and a frame's
//! header values (temperatures, names, states) are short. [`Header::push`] reports when
//! it cut or cleaned a value, so a caller can log it.

pub mod card;
pub mod image;

pub use card::{is_reserved, normalize_keyword, Card, CardError, Header, Value, CARD};
pub use image::{
    file_len, image_header, pad_data, push_le_pixels, read_header, read_u16_image, write_u16_image,
    Image, ReadError, BLOCK,
};
