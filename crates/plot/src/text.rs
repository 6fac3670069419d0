//! Text set with ab_glyph straight onto the RGB buffer.
//!
//! plotters 0.3.7's own `ab_glyph` text path drops each glyph's left side bearing
//! (plotters issue #576: "Cr yostat", "Mar14"), so plotters draws no text here: labels
//! are collected while the chart is drawn and set by this module afterwards.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};

/// DejaVu Sans, carried in the repository (see fonts/README.md) so that text renders
/// the same everywhere without fontconfig or freetype.
static FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Where a label sits relative to its anchor point, along one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

/// A piece of text waiting to be set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Label {
    pub text: String,
    /// ab_glyph's pixel scale: the font's ascent-to-descent height in pixels (DejaVu's
    /// em is about 0.86 of it).
    pub size: f32,
    pub color: [u8; 3],
    pub at: (i32, i32),
    /// Along the reading direction, and across it (top of the letters = Start).
    pub along: Anchor,
    pub across: Anchor,
    /// Turned a quarter left, reading bottom to top, as a y axis title.
    pub rotated: bool,
}

/// The embedded font, parsed once per process.
#[derive(Clone, Copy)]
pub(crate) struct Typesetter {
    font: &'static FontRef<'static>,
}

impl Typesetter {
    /// `None` only if the embedded font does not parse, which a test rules out.
    pub fn get() -> Option<Self> {
        static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
        FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok())
            .as_ref()
            .map(|font| Typesetter { font })
    }

    /// Advance width of `text` in pixels, kerning included.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        let font = self.font.as_scaled(PxScale::from(size));
        let mut width = 0.0;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                width += font.kern(p, id);
            }
            width += font.h_advance(id);
            previous = Some(id);
        }
        width
    }

    /// Blend `label` into an RGB8 buffer of `size` pixels; whatever falls outside is
    /// clipped.
    pub fn draw(&self, rgb: &mut [u8], (width, height): (u32, u32), label: &Label) {
        let scale = PxScale::from(label.size);
        let font = self.font.as_scaled(scale);
        let line = font.ascent() - font.descent();
        let offset = |anchor, extent: f32| match anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => -extent / 2.0,
            Anchor::End => -extent,
        };
        // The label's own frame: x along the text, y down across it, (0, 0) top left.
        let dx = offset(label.along, self.width(&label.text, label.size));
        let dy = offset(label.across, line);
        let (ax, ay) = label.at;
        let mut put = |lx: i32, ly: i32, coverage: f32| {
            let (x, y) = if label.rotated {
                (ax + ly, ay - lx)
            } else {
                (ax + lx, ay + ly)
            };
            if x < 0 || y < 0 || x >= width as i32 || y >= height as i32 {
                return;
            }
            let i = (y as usize * width as usize + x as usize) * 3;
            // 17 coverage levels look as smooth as 256 at these sizes and keep a plot
            // within a 256-colour palette (see render::encode_png).
            let a = (coverage.clamp(0.0, 1.0) * 16.0).round() / 16.0;
            for (channel, &ink) in rgb[i..i + 3].iter_mut().zip(&label.color) {
                let paper = f32::from(*channel);
                *channel = (paper + (f32::from(ink) - paper) * a).round() as u8;
            }
        };

        let mut caret = dx;
        let mut previous = None;
        for c in label.text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                caret += font.kern(p, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(scale, point(caret, dy + font.ascent()));
            caret += font.h_advance(id);
            if let Some(outline) = self.font.outline_glyph(glyph) {
                // px_bounds carries the side bearing and baseline offset of the glyph.
                let bounds = outline.px_bounds();
                let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
                outline.draw(|gx, gy, coverage| put(left + gx as i32, top + gy as i32, coverage));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 200;
    const H: u32 = 60;

    fn set(label: &Label) -> Vec<u8> {
        let mut rgb = vec![255; (W * H * 3) as usize];
        Typesetter::get().unwrap().draw(&mut rgb, (W, H), label);
        rgb
    }

    fn label(text: &str) -> Label {
        Label {
            text: text.into(),
            size: 20.0,
            color: [0, 0, 0],
            at: (10, 10),
            along: Anchor::Start,
            across: Anchor::Start,
            rotated: false,
        }
    }

    /// Columns holding any ink, as runs `(first, last)`.
    fn inked_runs(rgb: &[u8]) -> Vec<(u32, u32)> {
        let inked = |x: u32| (0..H).any(|y| rgb[((y * W + x) * 3) as usize] < 128);
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for x in 0..W {
            if inked(x) {
                match runs.last_mut() {
                    Some(run) if run.1 + 1 == x => run.1 = x,
                    _ => runs.push((x, x)),
                }
            }
        }
        runs
    }

    #[test]
    fn the_embedded_font_parses() {
        let ts = Typesetter::get().expect("DejaVu Sans");
        assert!(ts.width("Mar 14", 14.0) > ts.width("Mar14", 14.0) + 2.0);
    }

    #[test]
    fn a_space_separates_words() {
        // plotters' own path printed "Mar 14" as "Mar14": the gap must be wider than
        // any gap between letters.
        let runs = inked_runs(&set(&label("Mar 14")));
        let gaps: Vec<u32> = runs.windows(2).map(|w| w[1].0 - w[0].1).collect();
        let widest = *gaps.iter().max().unwrap();
        let others = gaps
            .iter()
            .filter(|&&g| g != widest)
            .max()
            .copied()
            .unwrap_or(0);
        assert!(widest >= others + 3, "gaps {gaps:?}");
    }

    #[test]
    fn glyphs_keep_their_side_bearing() {
        // "1" starts well right of its origin; plotters' own path drew it at the origin.
        let ts = Typesetter::get().unwrap();
        let font = ts.font.as_scaled(PxScale::from(40.0));
        let bearing = font.h_side_bearing(font.glyph_id('1'));
        assert!(bearing > 3.0, "{bearing}");
        let first_ink = inked_runs(&set(&Label {
            size: 40.0,
            ..label("1")
        }))[0]
            .0 as f32;
        assert!(
            (first_ink - (10.0 + bearing)).abs() <= 1.0,
            "ink from x = {first_ink}"
        );
    }

    #[test]
    fn anchors_place_the_text() {
        let start = inked_runs(&set(&label("00:00")));
        let end = inked_runs(&set(&Label {
            along: Anchor::End,
            at: (150, 10),
            ..label("00:00")
        }));
        assert!(start[0].0 >= 10 && start[0].0 <= 13, "{start:?}");
        assert!(
            end.last().unwrap().1 <= 150 && end.last().unwrap().1 >= 146,
            "{end:?}"
        );
    }

    #[test]
    fn rotated_text_reads_upwards() {
        let rgb = set(&Label {
            rotated: true,
            at: (20, 55),
            ..label("W")
        });
        // A rotated glyph is taller than wide, and sits above the anchor.
        let inked: Vec<(u32, u32)> = (0..H)
            .flat_map(|y| (0..W).map(move |x| (x, y)))
            .filter(|&(x, y)| rgb[((y * W + x) * 3) as usize] < 128)
            .collect();
        let ys = inked.iter().map(|p| p.1);
        assert!(ys.clone().max().unwrap() <= 55 && ys.min().unwrap() >= 30);
        assert!(inked.iter().all(|p| p.0 >= 20 && p.0 < 45));
    }

    #[test]
    fn text_off_the_edge_is_clipped() {
        let rgb = set(&Label {
            at: (-30, -5),
            ..label("Voltage [V] clipped on every side of the image")
        });
        assert_eq!(rgb.len(), (W * H * 3) as usize);
    }
}
