//! From a spec and series to PNG bytes: layout, grid, lines, legend, labels, encoding.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::axis::{self, Axis};
use crate::decimate::decimate_map;
use crate::text::{Anchor, Label, Typesetter};

/// Smallest and largest accepted width or height, as monitor.ini documents them.
pub const MIN_SIZE: u32 = 100;
pub const MAX_SIZE: u32 = 4000;

const INK: RGBColor = RGBColor(34, 34, 34);
const MUTED: RGBColor = RGBColor(120, 120, 120);
const AXIS: RGBColor = RGBColor(90, 90, 90);
const GRID: RGBColor = RGBColor(222, 222, 222);
const GRID_MINOR: RGBColor = RGBColor(240, 240, 240);
/// Tableau 10, minus grey and olive which read poorly as thin lines on white.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Text sizes as ab_glyph pixel scales; DejaVu's em is 0.86 of that (12 px for labels).
const TITLE_SIZE: f32 = 17.0;
const LABEL_SIZE: f32 = 14.0;
const DESC_SIZE: f32 = 14.0;
const NO_DATA_SIZE: f32 = 20.0;

const EDGE: i32 = 8;
const ROW: i32 = 20;
const SWATCH: i32 = 18;
const ENTRY_GAP: i32 = 14;
const TICK: i32 = 4;
/// Wanted vertical distance between two labelled y ticks.
const Y_TICK_SPACING: f64 = 34.0;
/// Wanted horizontal distance between two labelled ticks of a numeric x axis.
const X_TICK_SPACING: f64 = 80.0;
/// Below this many pixels of plot height, the x axis title and then the header go.
const MIN_PLOT_HEIGHT: i32 = 60;

/// How values map to the vertical axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YScale {
    #[default]
    Linear,
    /// log10: values <= 0 cannot be placed and break the line like a missing value.
    Log,
}

impl YScale {
    /// The name monitor.ini and the status JSON use: `linear` or `log`.
    pub fn name(self) -> &'static str {
        match self {
            YScale::Linear => "linear",
            YScale::Log => "log",
        }
    }
}

impl std::str::FromStr for YScale {
    type Err = ();

    /// `linear` or `log`, in any case.
    fn from_str(text: &str) -> Result<Self, ()> {
        match text.to_ascii_lowercase().as_str() {
            "linear" => Ok(YScale::Linear),
            "log" => Ok(YScale::Log),
            _ => Err(()),
        }
    }
}

/// What one `[[plots]]` entry of monitor.ini asks for, plus the pixel size to render.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotSpec {
    /// Drawn top left; empty for none.
    pub title: String,
    /// Axis titles; empty for none. On a time axis the UTC date(s) shown are appended,
    /// and an empty `xlabel` reads "Time, UTC".
    pub xlabel: String,
    pub ylabel: String,
    /// Pixels; clamped to [`MIN_SIZE`]`..=`[`MAX_SIZE`] by [`render_png`].
    pub width: u32,
    pub height: u32,
    pub yscale: YScale,
    /// The x values are unix seconds (the `time` abscissa): ticks fall on round UTC
    /// times and are labelled `HH:MM` up to a day, with the date beyond.
    pub time_axis: bool,
    /// The measured series from this index on are drawn against a second y axis on the
    /// right, titled `y2label` (two unit groups in one plot). Honoured only when both
    /// sides have something to draw; `None`: one axis for all.
    pub second_axis: Option<usize>,
    pub y2label: String,
    /// A vertical line at this x (a moment marked on a time axis), drawn when in range.
    pub marker: Option<f64>,
}

impl Default for PlotSpec {
    /// monitor.ini's defaults: 800 x 300, linear, against time.
    fn default() -> Self {
        PlotSpec {
            title: String::new(),
            xlabel: String::new(),
            ylabel: String::new(),
            width: 800,
            height: 300,
            yscale: YScale::Linear,
            time_axis: true,
            second_axis: None,
            y2label: String::new(),
            marker: None,
        }
    }
}

/// One line of a plot, named in the legend.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub name: String,
    /// `(x, y)` sorted by x. A y of NaN (or any non-finite y) is a missing value: the
    /// line stops there and starts again at the next value.
    pub points: Vec<(f64, f64)>,
}

/// Why a plot could not be drawn. Missing data is not an error: it renders "no data".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlotError {
    /// The embedded font did not parse.
    Font,
    /// plotters failed while drawing.
    Draw(String),
    /// The PNG encoder failed.
    Encode(String),
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotError::Font => f.write_str("plot: the embedded font could not be loaded"),
            PlotError::Draw(e) => write!(f, "plot: drawing failed: {e}"),
            PlotError::Encode(e) => write!(f, "plot: PNG encoding failed: {e}"),
        }
    }
}

impl std::error::Error for PlotError {}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError::Draw(e.to_string())
    }
}

impl From<png::EncodingError> for PlotError {
    fn from(e: png::EncodingError) -> Self {
        PlotError::Encode(e.to_string())
    }
}

/// `(width, height)` limited to [`MIN_SIZE`]`..=`[`MAX_SIZE`]: the size [`render_png`]
/// will produce for them.
pub fn clamp_size(width: u32, height: u32) -> (u32, u32) {
    (
        width.clamp(MIN_SIZE, MAX_SIZE),
        height.clamp(MIN_SIZE, MAX_SIZE),
    )
}

/// Render `series` over `x_range` (unix seconds when `spec.time_axis`) as a PNG of
/// [`clamp_size`]`(spec.width, spec.height)` pixels.
///
/// CPU-bound (a few ms for a day at 1 Hz): call it from `spawn_blocking`. Thread-safe.
/// Each series is reduced with [`crate::decimate`] to the image's width first, so the
/// cost hardly grows with the number of points. With nothing to draw in range (no
/// series, no finite values, only non-positive values on a log scale, or an empty
/// range) the result is still a PNG of that size, saying "no data".
pub fn render_png(
    spec: &PlotSpec,
    series: &[Series],
    x_range: (f64, f64),
) -> Result<Vec<u8>, PlotError> {
    render_png_with_plans(spec, series, &[], x_range)
}

/// [`render_png`] with `planned` series too: what is meant to happen (a setpoint
/// profile, say) next to what was measured. Each planned series is drawn dashed, in the
/// palette colours after the measured ones, and named in the legend after them; it
/// counts for the y range like any other. A planned series is a line through its points
/// (a profile's few corners), so a segment crossing an edge of `x_range` is cut there
/// rather than dropped with its outside end: a day-long hold shows in a one-hour plot.
pub fn render_png_with_plans(
    spec: &PlotSpec,
    measured: &[Series],
    planned: &[Series],
    x_range: (f64, f64),
) -> Result<Vec<u8>, PlotError> {
    let planned: Vec<Series> = planned
        .iter()
        .map(|s| Series {
            name: s.name.clone(),
            points: clipped(&s.points, x_range),
        })
        .collect();
    let series: Vec<(&Series, Stroke)> = measured
        .iter()
        .map(|s| (s, Stroke::Solid))
        .chain(planned.iter().map(|s| (s, Stroke::Dashed)))
        .collect();
    let ts = Typesetter::get().ok_or(PlotError::Font)?;
    let (width, height) = clamp_size(spec.width, spec.height);
    // Starting white saves a fill pass over the whole image.
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    let mut labels = Vec::new();
    let frame = {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        let frame = draw(&root, ts, spec, &series, x_range, &mut labels)?;
        root.present()?;
        frame
    };
    for label in &labels {
        ts.draw(&mut rgb, (width, height), label);
    }
    let area = frame.map(|f| f.to_text(x_range, spec.time_axis));
    encode_png(&rgb, width, height, area)
}

/// The tEXt keyword under which a PNG carries where its plot area is (see [`Frame`]).
pub const AREA_KEYWORD: &str = "labwire-plot-area";

/// Where the plot area is in the image, pixels from the top left, edges included: a page
/// maps a drag across the image back to x values with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frame {
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
}

impl Frame {
    /// `left=63 right=785 top=30 bottom=250 x0=1767225600 x1=1767229200 time=1`: the
    /// text of the [`AREA_KEYWORD`] chunk; `x0` is at `left`, `x1` at `right`, and `time`
    /// says whether they are Unix seconds (1) or an abscissa of another kind (0).
    fn to_text(self, (x0, x1): (f64, f64), time_axis: bool) -> String {
        format!(
            "left={} right={} top={} bottom={} x0={x0} x1={x1} time={}",
            self.left,
            self.right,
            self.top,
            self.bottom,
            u8::from(time_axis)
        )
    }
}

fn encode_png(
    rgb: &[u8],
    width: u32,
    height: u32,
    area: Option<String>,
) -> Result<Vec<u8>, PlotError> {
    let mut out = Vec::with_capacity(16 * 1024);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    if let Some(area) = area {
        encoder.add_text_chunk(AREA_KEYWORD.to_string(), area)?;
    }
    // Lines are not antialiased and text is only set on white, so a plot has a few
    // dozen colours: a palette image is a third of the data, and compresses smaller
    // and faster than RGB. Anything richer is written as RGB.
    match palette_of(rgb) {
        Some((palette, indices)) => {
            encoder.set_color(png::ColorType::Indexed);
            encoder.set_palette(palette);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&indices)?;
            writer.finish()?;
        }
        None => {
            encoder.set_color(png::ColorType::Rgb);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(rgb)?;
            writer.finish()?;
        }
    }
    Ok(out)
}

/// The image as at most 256 palette entries (flat RGB) and one index per pixel, or
/// `None` when it has more colours than that.
fn palette_of(rgb: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut lookup: HashMap<[u8; 3], u8> = HashMap::new();
    let mut palette = Vec::new();
    let mut indices = Vec::with_capacity(rgb.len() / 3);
    // Runs of one colour (background, grid) are most of the image: skip the map there.
    let mut last: Option<([u8; 3], u8)> = None;
    for pixel in rgb.chunks_exact(3) {
        let colour = [pixel[0], pixel[1], pixel[2]];
        let index = match last {
            Some((c, i)) if c == colour => i,
            _ => {
                let next = lookup.len();
                let i = match lookup.get(&colour) {
                    Some(&i) => i,
                    None if next < 256 => {
                        lookup.insert(colour, next as u8);
                        palette.extend_from_slice(&colour);
                        next as u8
                    }
                    None => return None,
                };
                last = Some((colour, i));
                i
            }
        };
        indices.push(index);
    }
    Some((palette, indices))
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn label(text: impl Into<String>, size: f32, color: RGBColor, at: (i32, i32)) -> Label {
    Label {
        text: text.into(),
        size,
        color: [color.0, color.1, color.2],
        at,
        along: Anchor::Start,
        across: Anchor::Middle,
        rotated: false,
    }
}

/// The points of the line through `points` (sorted by x) within `x_range`, with the
/// line's own values at the range's edges when it crosses them. At a step (two points at
/// one x) on an edge, both stay.
fn clipped(points: &[(f64, f64)], (x0, x1): (f64, f64)) -> Vec<(f64, f64)> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    let value_at = |x: f64| {
        let after = points.partition_point(|p| p.0 <= x);
        let (a, b) = (points[after - 1], points[after]);
        a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)
    };
    // An edge needs a point of its own unless one of the line's corners is on it.
    let cut_at = |x: f64| first.0 < x && x < last.0 && !points.iter().any(|p| p.0 == x);
    let mut out = Vec::with_capacity(points.len() + 2);
    if cut_at(x0) {
        out.push((x0, value_at(x0)));
    }
    out.extend(points.iter().filter(|p| x0 <= p.0 && p.0 <= x1));
    if cut_at(x1) {
        out.push((x1, value_at(x1)));
    }
    out
}

/// How a series' line is drawn: measured solid, planned dashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stroke {
    Solid,
    Dashed,
}

/// Dash and gap lengths of a planned line, pixels.
const DASH: u32 = 6;
const DASH_GAP: u32 = 4;
/// The marked moment's line: pure black, which neither the palette nor text (INK at
/// most) ever is.
const MARKER: RGBColor = RGBColor(0, 0, 0);

fn draw(
    root: &Area<'_>,
    ts: Typesetter,
    spec: &PlotSpec,
    series: &[(&Series, Stroke)],
    x_range: (f64, f64),
    labels: &mut Vec<Label>,
) -> Result<Option<Frame>, PlotError> {
    let (width, height) = root.dim_in_pixel();
    let (w, h) = (width as i32, height as i32);
    let log = spec.yscale == YScale::Log;
    let to_axis = |y: f64| match (log, y > 0.0) {
        (false, _) => y,
        (true, true) => y.log10(),
        (true, false) => f64::NAN,
    };
    // The image width bounds the plot area's, so no column holds two pixels' extremes.
    let lines: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|(s, _)| decimate_map(&s.points, x_range, width, to_axis))
        .collect();
    // The second axis's series, when both axes have something to draw.
    let asked_right =
        |i: usize| spec.second_axis.is_some_and(|first| i >= first) && series[i].1 == Stroke::Solid;
    let side = |right: bool| {
        y_extent(
            lines
                .iter()
                .enumerate()
                .filter(move |(i, _)| asked_right(*i) == right)
                .map(|(_, line)| line),
        )
    };
    let (left_extent, right_extent) = (side(false), side(true));
    let two_axes = left_extent.is_some() && right_extent.is_some();
    let on_right = |i: usize| two_axes && asked_right(i);
    // Only the second group has data: it is the plot's one axis.
    let ylabel = if left_extent.is_none() && right_extent.is_some() {
        spec.y2label.as_str()
    } else {
        spec.ylabel.as_str()
    };
    let Some((y_lo, y_hi)) = left_extent
        .filter(|_| two_axes)
        .or_else(|| y_extent(&lines))
        .map(|(lo, hi)| pad(lo, hi, log))
    else {
        no_data(ts, spec, (w, h), labels);
        return Ok(None);
    };
    let (x0, x1) = x_range;

    let legend: Vec<(&str, RGBColor)> = series
        .iter()
        .enumerate()
        .map(|(i, (s, _))| (s.name.as_str(), PALETTE[i % PALETTE.len()]))
        .collect();
    let mut header = Header::lay_out(ts, w, &spec.title, &legend);
    let mut x_desc = x_description(spec, x_range);
    let line = LABEL_SIZE.ceil() as i32;
    let bottom_of = |x_desc: &str| {
        let desc = if x_desc.is_empty() {
            0
        } else {
            DESC_SIZE.ceil() as i32 + 4
        };
        h - EDGE / 2 - desc - line - TICK - 3
    };
    // A small image gives up the axis title, then title and legend, before the plot.
    if bottom_of(&x_desc) - (header.height + 6) < MIN_PLOT_HEIGHT {
        x_desc.clear();
    }
    if bottom_of(&x_desc) - (header.height + 6) < MIN_PLOT_HEIGHT {
        header = Header::default();
    }
    let top = header.height + 6;
    let bottom = bottom_of(&x_desc).max(top + 10);

    let y_axis_of = |(lo, hi): (f64, f64)| {
        if log {
            axis::log_axis(lo, hi, f64::from(bottom - top), Y_TICK_SPACING)
        } else {
            axis::linear_axis(lo, hi, f64::from(bottom - top), Y_TICK_SPACING)
        }
    };
    let y_axis = y_axis_of((y_lo, y_hi));
    let labels_of = |axis: &Axis| -> Vec<(f64, String)> {
        axis.major.iter().map(|&v| (v, axis.label(v))).collect()
    };
    let widest_of = |labels: &[(f64, String)]| {
        labels
            .iter()
            .map(|(_, s)| ts.width(s, LABEL_SIZE))
            .fold(0.0, f32::max)
            .ceil() as i32
    };
    let desc_room_of = |title: &str| {
        if title.is_empty() {
            0
        } else {
            DESC_SIZE.ceil() as i32 + 6
        }
    };
    let y_labels = labels_of(&y_axis);
    let left = EDGE + desc_room_of(ylabel) + widest_of(&y_labels) + 5 + TICK;
    let y2_axis = right_extent
        .filter(|_| two_axes)
        .map(|(lo, hi)| y_axis_of(pad(lo, hi, log)));
    let y2_labels = y2_axis.as_ref().map(labels_of).unwrap_or_default();
    let right = match &y2_axis {
        Some(_) => w - (EDGE + desc_room_of(&spec.y2label) + widest_of(&y2_labels) + 5 + TICK),
        None => w - 14,
    }
    .max(left + 10);
    // A value of the second axis as the first axis's value at the same height.
    let to_left = |v: f64| match &y2_axis {
        Some(y2) => y_axis.lo + (v - y2.lo) * (y_axis.hi - y_axis.lo) / (y2.hi - y2.lo),
        None => v,
    };
    let x_axis: Axis = if spec.time_axis {
        axis::time_axis(x0, x1, f64::from(right - left))
    } else {
        axis::linear_axis(x0, x1, f64::from(right - left), X_TICK_SPACING)
    };

    let chart = ChartBuilder::on(root)
        .margin_top(top)
        .margin_bottom(h - bottom)
        .margin_left(left)
        .margin_right(w - right)
        .build_cartesian_2d(x_axis.clone(), y_axis.clone())?;
    let at = |x: f64, y: f64| chart.backend_coord(&(x, y));
    let (plot_x, plot_y) = chart.plotting_area().get_pixel_range();
    let (l, r, t, b) = (plot_x.start, plot_x.end - 1, plot_y.start, plot_y.end - 1);
    let segment = |a: (i32, i32), z: (i32, i32), color: RGBColor| {
        root.draw(&PathElement::new(vec![a, z], color))
    };

    for &v in &y_axis.minor {
        let y = at(x0, v).1;
        segment((l, y), (r, y), GRID_MINOR)?;
    }
    for &v in &y_axis.major {
        let y = at(x0, v).1;
        segment((l, y), (r, y), GRID)?;
    }
    for &v in &x_axis.major {
        let x = at(v, y_lo).0;
        segment((x, t), (x, b), GRID)?;
    }
    segment((l, t), (r, t), GRID)?;
    segment((r, t), (r, b), if two_axes { AXIS } else { GRID })?;

    for (i, ((points, &(_, color)), &(_, stroke))) in
        lines.iter().zip(&legend).zip(series).enumerate()
    {
        let place = |p: &(f64, f64)| {
            if on_right(i) {
                at(p.0, to_left(p.1))
            } else {
                at(p.0, p.1)
            }
        };
        // NaN marks a gap: each run between gaps is its own line.
        for run in points.split(|p| p.1.is_nan()) {
            match run {
                [] => {}
                [single] => {
                    let dot = Circle::new(place(single), 2, color.filled());
                    root.draw(&dot)?;
                }
                _ => {
                    let path: Vec<(i32, i32)> = run.iter().map(place).collect();
                    match stroke {
                        Stroke::Solid => {
                            root.draw(&PathElement::new(path, color.stroke_width(1)))?
                        }
                        Stroke::Dashed => root.draw(&DashedPathElement::new(
                            path,
                            DASH,
                            DASH_GAP,
                            color.stroke_width(1),
                        ))?,
                    }
                }
            }
        }
    }

    if let Some(moment) = spec.marker.filter(|m| x0 <= *m && *m <= x1) {
        let x = at(moment, y_lo).0;
        root.draw(&DashedPathElement::new(
            vec![(x, t), (x, b)],
            DASH,
            DASH_GAP,
            MARKER.stroke_width(1),
        ))?;
    }

    segment((l, t), (l, b), AXIS)?;
    segment((l, b), (r, b), AXIS)?;
    for (v, text) in y_labels {
        let y = at(x0, v).1;
        segment((l - TICK, y), (l, y), AXIS)?;
        labels.push(Label {
            along: Anchor::End,
            ..label(text, LABEL_SIZE, INK, (l - TICK - 4, y))
        });
    }
    for (v, text) in y2_labels {
        let y = at(x0, to_left(v)).1;
        segment((r, y), (r + TICK, y), AXIS)?;
        labels.push(label(text, LABEL_SIZE, INK, (r + TICK + 4, y)));
    }
    if y2_axis.is_some() && !spec.y2label.is_empty() {
        labels.push(Label {
            along: Anchor::Middle,
            across: Anchor::End,
            rotated: true,
            ..label(
                spec.y2label.as_str(),
                DESC_SIZE,
                INK,
                (w - EDGE, (t + b) / 2),
            )
        });
    }
    for &v in &x_axis.major {
        let x = at(v, y_lo).0;
        segment((x, b), (x, b + TICK), AXIS)?;
        let text = x_axis.label(v);
        // Keep the first and last labels whole inside the image.
        let half = (ts.width(&text, LABEL_SIZE) / 2.0).ceil() as i32;
        let x = x.clamp(half + 2, (w - half - 2).max(half + 2));
        labels.push(Label {
            along: Anchor::Middle,
            across: Anchor::Start,
            ..label(text, LABEL_SIZE, INK, (x, b + TICK + 3))
        });
    }
    if !x_desc.is_empty() {
        labels.push(Label {
            along: Anchor::Middle,
            across: Anchor::End,
            ..label(x_desc, DESC_SIZE, INK, ((l + r) / 2, h - EDGE / 2))
        });
    }
    if !ylabel.is_empty() {
        labels.push(Label {
            along: Anchor::Middle,
            across: Anchor::Start,
            rotated: true,
            ..label(ylabel, DESC_SIZE, INK, (EDGE, (t + b) / 2))
        });
    }
    header.draw(root, &spec.title, labels)?;
    Ok(Some(Frame {
        left: l,
        right: r,
        top: t,
        bottom: b,
    }))
}

/// plotters maps values through an [`Axis`]. Grid, ticks and labels are drawn here
/// from the same axis rather than by plotters' mesh, which draws text of its own.
impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let fraction = (v - self.lo) / (self.hi - self.lo);
        let pixels = f64::from(limit.1 - limit.0);
        // Same rounding as plotters' own f64 axes; `as` saturates far-off values.
        limit.0 + (pixels * fraction + 1e-3).floor() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.major.clone()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Lowest and highest finite y over all lines.
fn y_extent<'a>(lines: impl IntoIterator<Item = &'a Vec<(f64, f64)>>) -> Option<(f64, f64)> {
    lines
        .into_iter()
        .flatten()
        .map(|p| p.1)
        .filter(|y| y.is_finite())
        .fold(None, |acc, y| match acc {
            None => Some((y, y)),
            Some((lo, hi)) => Some((lo.min(y), hi.max(y))),
        })
}

/// Room above and below the data so lines do not run along the frame; a flat line
/// gets a band around it rather than a zero-height axis.
fn pad(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    let span = hi - lo;
    let d = if span > 0.0 {
        span * 0.05
    } else if log {
        0.5
    } else if lo != 0.0 {
        lo.abs() * 0.05
    } else {
        1.0
    };
    let (a, b) = (lo - d, hi + d);
    if a.is_finite() && b.is_finite() && b > a {
        (a, b)
    } else if hi > lo {
        // The padding overflowed: values near f64::MAX.
        (lo, hi)
    } else {
        // A padding lost to rounding: a flat line of subnormal values.
        (lo - 1.0, hi + 1.0)
    }
}

fn x_description(spec: &PlotSpec, (x0, x1): (f64, f64)) -> String {
    if !spec.time_axis {
        return spec.xlabel.clone();
    }
    let dates = axis::utc_date_span(x0, x1);
    match spec.xlabel.as_str() {
        "" => format!("Time, UTC ({dates})"),
        label if label.contains("UTC") => format!("{label} ({dates})"),
        label => format!("{label} (UTC, {dates})"),
    }
}

/// The band above the plot: title on the left, legend entries right-aligned on the same
/// row when they fit, else on rows of their own.
#[derive(Debug, Default)]
struct Header {
    /// Pixels from the top of the image; 0 when there is neither title nor legend.
    height: i32,
    /// Name, colour, left x of the swatch, row.
    entries: Vec<(String, RGBColor, i32, usize)>,
}

impl Header {
    fn lay_out(ts: Typesetter, width: i32, title: &str, legend: &[(&str, RGBColor)]) -> Header {
        let right = width - EDGE;
        let widths: Vec<i32> = legend
            .iter()
            .map(|(name, _)| SWATCH + 5 + ts.width(name, LABEL_SIZE).ceil() as i32)
            .collect();
        let total: i32 = widths.iter().map(|w| w + ENTRY_GAP).sum::<i32>() - ENTRY_GAP;
        let title_end = if title.is_empty() {
            EDGE
        } else {
            EDGE + ts.width(title, TITLE_SIZE).ceil() as i32 + 24
        };

        // Fill rows left to right, then right-align each row. The title's row takes the
        // legend only when all of it fits there.
        let first_row = usize::from(!title.is_empty() && title_end + total > right);
        let mut start = if first_row == 0 { title_end } else { EDGE };
        let mut rows: Vec<Vec<usize>> = Vec::new();
        let mut current = Vec::new();
        let mut used = 0;
        for (i, &entry) in widths.iter().enumerate() {
            if !current.is_empty() && start + used + entry > right {
                rows.push(std::mem::take(&mut current));
                start = EDGE;
                used = 0;
            }
            current.push(i);
            used += entry + ENTRY_GAP;
        }
        if !current.is_empty() {
            rows.push(current);
        }
        let count = (first_row + rows.len()).max(usize::from(!title.is_empty()));
        let mut entries = Vec::with_capacity(legend.len());
        for (r, row) in rows.iter().enumerate() {
            let row_width: i32 =
                row.iter().map(|&i| widths[i] + ENTRY_GAP).sum::<i32>() - ENTRY_GAP;
            let mut x = right - row_width;
            for &i in row {
                entries.push((legend[i].0.to_string(), legend[i].1, x, first_row + r));
                x += widths[i] + ENTRY_GAP;
            }
        }
        Header {
            height: if count == 0 {
                0
            } else {
                EDGE / 2 + ROW * count as i32 + 2
            },
            entries,
        }
    }

    fn centre(row: usize) -> i32 {
        EDGE / 2 + ROW * row as i32 + ROW / 2
    }

    fn draw(&self, root: &Area<'_>, title: &str, labels: &mut Vec<Label>) -> Result<(), PlotError> {
        if self.height == 0 {
            return Ok(());
        }
        if !title.is_empty() {
            labels.push(label(title, TITLE_SIZE, INK, (EDGE, Self::centre(0))));
        }
        for (name, color, x, row) in &self.entries {
            let y = Self::centre(*row);
            // A filled rectangle: plotters antialiases lines wider than a pixel, and
            // their edge shades would overflow the PNG palette.
            root.draw(&Rectangle::new(
                [(*x, y - 1), (x + SWATCH, y + 1)],
                color.filled(),
            ))?;
            labels.push(label(name.as_str(), LABEL_SIZE, INK, (x + SWATCH + 5, y)));
        }
        Ok(())
    }
}

fn no_data(ts: Typesetter, spec: &PlotSpec, (w, h): (i32, i32), labels: &mut Vec<Label>) {
    if !spec.title.is_empty() {
        let header = Header::lay_out(ts, w, &spec.title, &[]);
        if header.height > 0 {
            labels.push(label(
                spec.title.as_str(),
                TITLE_SIZE,
                INK,
                (EDGE, Header::centre(0)),
            ));
        }
    }
    labels.push(Label {
        along: Anchor::Middle,
        ..label("no data", NO_DATA_SIZE, MUTED, (w / 2, h / 2))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-03-14 00:00:00 UTC
    const T0: f64 = 1_710_374_400.0;
    const DAY: f64 = 86_400.0;

    struct Image {
        width: u32,
        height: u32,
        rgb: Vec<u8>,
    }

    impl Image {
        fn decode(png_bytes: &[u8]) -> Image {
            let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
            decoder.set_transformations(png::Transformations::EXPAND);
            let mut reader = decoder.read_info().expect("PNG header");
            let mut rgb = vec![0; reader.output_buffer_size().expect("size")];
            let info = reader.next_frame(&mut rgb).expect("PNG data");
            assert_eq!(info.color_type, png::ColorType::Rgb);
            rgb.truncate(info.buffer_size());
            Image {
                width: info.width,
                height: info.height,
                rgb,
            }
        }

        fn pixel(&self, x: u32, y: u32) -> RGBColor {
            let i = (y * self.width + x) as usize * 3;
            RGBColor(self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
        }

        /// Pixels of exactly `color` below the header, whose legend swatches share the
        /// lines' colours.
        fn where_is(&self, color: RGBColor, spec: &PlotSpec, series: &[Series]) -> Vec<(u32, u32)> {
            let legend: Vec<(&str, RGBColor)> =
                series.iter().map(|s| (s.name.as_str(), INK)).collect();
            let ts = Typesetter::get().unwrap();
            let below = Header::lay_out(ts, self.width as i32, &spec.title, &legend).height as u32;
            let mut found = Vec::new();
            for y in below..self.height {
                for x in 0..self.width {
                    if self.pixel(x, y) == color {
                        found.push((x, y));
                    }
                }
            }
            found
        }
    }

    fn hour_of(f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        (0..3600).map(|s| (T0 + s as f64, f(s as f64))).collect()
    }

    fn one(name: &str, points: Vec<(f64, f64)>) -> Vec<Series> {
        vec![Series {
            name: name.into(),
            points,
        }]
    }

    fn spec(width: u32, height: u32) -> PlotSpec {
        PlotSpec {
            title: "Channel voltages".into(),
            ylabel: "Voltage [V]".into(),
            width,
            height,
            ..PlotSpec::default()
        }
    }

    const HOUR: (f64, f64) = (T0, T0 + 3600.0);

    #[test]
    fn png_has_the_requested_size() {
        let series = one("v", hour_of(|s| (s / 300.0).sin()));
        for (w, h) in [(800, 300), (100, 100), (1234, 567), (4000, 120)] {
            let spec = spec(w, h);
            let image = Image::decode(&render_png(&spec, &series, HOUR).unwrap());
            assert_eq!((image.width, image.height), (w, h));
            let line = image.where_is(PALETTE[0], &spec, &series);
            assert!(!line.is_empty(), "{w}x{h}: no line");
        }
    }

    #[test]
    fn sizes_out_of_bounds_are_clamped() {
        let series = one("v", hour_of(|s| s));
        let image = Image::decode(&render_png(&spec(0, 100_000), &series, HOUR).unwrap());
        assert_eq!((image.width, image.height), (MIN_SIZE, MAX_SIZE));
        assert_eq!(clamp_size(50, 5000), (100, 4000));
    }

    #[test]
    fn no_data_is_a_picture_not_an_error() {
        let empty_series = one("v", Vec::new());
        let all_missing = one("v", hour_of(|_| f64::NAN));
        let elsewhere = one("v", hour_of(|s| s));
        let cases: [(&[Series], (f64, f64)); 5] = [
            (&[], HOUR),
            (&empty_series, HOUR),
            (&all_missing, HOUR),
            (&elsewhere, (T0 + DAY, T0 + 2.0 * DAY)),
            (&elsewhere, (T0, T0)),
        ];
        let spec = spec(640, 240);
        for (i, (series, range)) in cases.into_iter().enumerate() {
            let image = Image::decode(&render_png(&spec, series, range).unwrap());
            assert_eq!((image.width, image.height), (640, 240), "case {i}");
            assert!(
                image.where_is(PALETTE[0], &spec, series).is_empty(),
                "case {i}: a line"
            );
            // The message is dark text around the centre.
            let centre_ink = (300..340)
                .flat_map(|x| (110..130).map(move |y| (x, y)))
                .filter(|&(x, y)| image.pixel(x, y).0 < 200)
                .count();
            assert!(centre_ink > 20, "case {i}: no message in the centre");
        }
    }

    #[test]
    fn a_one_sample_spike_in_a_day_reaches_the_top() {
        let mut points: Vec<(f64, f64)> = (0..86_400).map(|s| (T0 + s as f64, 1.0)).collect();
        points[51_234].1 = 100.0;
        let (spec, series) = (spec(800, 300), one("v", points));
        let png = render_png(&spec, &series, (T0, T0 + DAY)).unwrap();
        let line = Image::decode(&png).where_is(PALETTE[0], &spec, &series);
        let top = line.iter().map(|p| p.1).min().unwrap();
        let bottom = line.iter().map(|p| p.1).max().unwrap();
        assert!(
            bottom - top > 150,
            "spike lost: line spans rows {top}..{bottom}"
        );
    }

    #[test]
    fn missing_values_break_the_line() {
        // Twenty minutes unreadable in the middle of an hour.
        let points = hour_of(|s| {
            if (1200.0..2400.0).contains(&s) {
                f64::NAN
            } else {
                5.0
            }
        });
        let (spec, series) = (spec(800, 300), one("v", points));
        let png = render_png(&spec, &series, HOUR).unwrap();
        let mut columns: Vec<u32> = Image::decode(&png)
            .where_is(PALETTE[0], &spec, &series)
            .into_iter()
            .map(|p| p.0)
            .collect();
        columns.sort_unstable();
        columns.dedup();
        let widest_hole = columns.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        // A third of a ~700 px plot.
        assert!(
            widest_hole > 180,
            "the gap was bridged: widest hole {widest_hole} px"
        );
    }

    #[test]
    fn log_scale_skips_zeros_and_negatives() {
        let pump_down = hour_of(|s| match s as u32 {
            100..=199 => 0.0,
            200..=210 => -1e-3,
            _ => 1e3 * (-s / 200.0).exp(),
        });
        let log = PlotSpec {
            yscale: YScale::Log,
            ..spec(800, 300)
        };
        let series = one("p", pump_down);
        let image = Image::decode(&render_png(&log, &series, HOUR).unwrap());
        let line = image.where_is(PALETTE[0], &log, &series);
        // 1e3 down to ~1e-5 mbar: the line runs most of the plot's height.
        let rows =
            line.iter().map(|p| p.1).max().unwrap() - line.iter().map(|p| p.1).min().unwrap();
        assert!(rows > 150, "line spans only {rows} rows");

        let never_positive = one("p", hour_of(|s| -s));
        let image = Image::decode(&render_png(&log, &never_positive, HOUR).unwrap());
        assert!(image.where_is(PALETTE[0], &log, &never_positive).is_empty());
    }

    #[test]
    fn a_planned_series_is_dashed_in_the_next_colour() {
        let spec = spec(800, 300);
        let measured = one("temp", hour_of(|s| 300.0 - s / 36.0));
        // Flat, so that its pixels lie on one row; beyond the measured hour.
        let planned = one("plan", vec![(T0, 250.0), (T0 + 7200.0, 250.0)]);
        let x_range = (T0, T0 + 7200.0);
        let png = render_png_with_plans(&spec, &measured, &planned, x_range).unwrap();
        let image = Image::decode(&png);
        let both: Vec<Series> = measured.iter().chain(&planned).cloned().collect();
        let plan = image.where_is(PALETTE[1], &spec, &both);
        assert!(!plan.is_empty(), "no planned line");
        let row = plan[plan.len() / 2].1;
        let xs: Vec<u32> = plan.iter().filter(|p| p.1 == row).map(|p| p.0).collect();
        let (first, last) = (xs[0], xs[xs.len() - 1]);
        // It runs across the whole range, with gaps: dashed.
        assert!(last - first > 600, "the plan spans {first}..{last}");
        let gaps = xs.windows(2).filter(|w| w[1] - w[0] > 1).count();
        assert!(gaps > 20, "{gaps} gaps: not dashed");
        // The measured line stays solid and in the first colour.
        assert!(!image.where_is(PALETTE[0], &spec, &both).is_empty());
    }

    #[test]
    fn a_planned_segment_across_the_range_is_cut_at_its_edges() {
        // A ramp from a day before to a day after the hour: none of its points is inside.
        let ramp = vec![(T0 - DAY, 0.0), (T0 + DAY, 200.0)];
        assert_eq!(
            clipped(&ramp, HOUR),
            vec![
                (T0, 100.0),
                (T0 + 3600.0, 100.0 + 200.0 * 3600.0 / (2.0 * DAY))
            ]
        );
        // A step on the range's start stays a step; points inside stay.
        let step = vec![(T0 - 60.0, 5.0), (T0, 5.0), (T0, 7.0), (T0 + 60.0, 7.0)];
        assert_eq!(
            clipped(&step, (T0, T0 + 30.0)),
            vec![(T0, 5.0), (T0, 7.0), (T0 + 30.0, 7.0)]
        );
        assert_eq!(clipped(&step, (T0 + 120.0, T0 + 180.0)), vec![]);
        assert_eq!(clipped(&[], HOUR), vec![]);

        let spec = spec(800, 300);
        let measured = one("temp", hour_of(|s| 300.0 - s / 36.0));
        let planned = one("plan", ramp);
        let png = render_png_with_plans(&spec, &measured, &planned, HOUR).unwrap();
        let both: Vec<Series> = measured.iter().chain(&planned).cloned().collect();
        let plan = Image::decode(&png).where_is(PALETTE[1], &spec, &both);
        let (lo, hi) = plan
            .iter()
            .fold((u32::MAX, 0), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
        assert!(hi > lo + 600, "the plan spans the plot: {lo}..{hi}");
    }

    #[test]
    fn every_series_is_drawn_in_its_own_colour() {
        let series: Vec<Series> = (0..10)
            .map(|i| Series {
                name: format!("ch{i}_voltage"),
                points: hour_of(|s| i as f64 + (s / 600.0).sin()),
            })
            .collect();
        let spec = spec(800, 300);
        let image = Image::decode(&render_png(&spec, &series, HOUR).unwrap());
        for color in PALETTE {
            assert!(
                !image.where_is(color, &spec, &series).is_empty(),
                "{color:?} missing"
            );
        }
    }

    #[test]
    fn numeric_abscissa() {
        let iv: Vec<(f64, f64)> = (0..=100)
            .map(|i| (i as f64 * 0.1, (i as f64).sqrt()))
            .collect();
        let plain = PlotSpec {
            xlabel: "Voltage [V]".into(),
            ylabel: "Current [A]".into(),
            time_axis: false,
            ..PlotSpec::default()
        };
        let series = one("i", iv);
        let png = render_png(&plain, &series, (0.0, 10.0)).unwrap();
        assert!(!Image::decode(&png)
            .where_is(PALETTE[0], &plain, &series)
            .is_empty());
    }

    #[test]
    fn renders_from_many_threads_at_once() {
        let series = one("v", hour_of(|s| s));
        let pngs: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| render_png(&spec(400, 200), &series, HOUR).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            pngs.windows(2).all(|w| w[0] == w[1]),
            "same input, same picture"
        );
    }

    #[test]
    fn png_encoding_is_lossless_with_and_without_a_palette() {
        let (w, h) = (40u32, 30u32);
        let few: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let c = PALETTE[(i % 7) as usize];
                [c.0, c.1, c.2]
            })
            .collect();
        // 1200 distinct colours: too many for a palette.
        let many: Vec<u8> = (0..w * h)
            .flat_map(|i| [(i % 256) as u8, (i / 256) as u8, 7])
            .collect();
        for (rgb, indexed) in [(few, true), (many, false)] {
            let png_bytes = encode_png(&rgb, w, h, None).unwrap();
            let header = png::Decoder::new(std::io::Cursor::new(&png_bytes[..]))
                .read_info()
                .unwrap()
                .info()
                .color_type;
            assert_eq!(header == png::ColorType::Indexed, indexed);
            let image = Image::decode(&png_bytes);
            assert_eq!((image.width, image.height), (w, h));
            assert!(image.rgb == rgb, "pixels changed (indexed: {indexed})");
        }
    }

    #[test]
    fn extreme_values_still_render() {
        let cases: [&[(f64, f64)]; 4] = [
            &[(T0, -f64::MAX), (T0 + 1.0, f64::MAX)],
            &[(T0, 1e-320), (T0 + 1.0, 2e-320)],
            &[(T0, 1e300), (T0 + 1.0, 1e300)],
            &[(T0, 0.0), (T0 + 1.0, 0.0)],
        ];
        for (i, points) in cases.into_iter().enumerate() {
            for yscale in [YScale::Linear, YScale::Log] {
                let spec = PlotSpec {
                    yscale,
                    ..spec(300, 200)
                };
                let png = render_png(&spec, &one("v", points.to_vec()), (T0, T0 + 2.0));
                let image = Image::decode(&png.unwrap_or_else(|e| panic!("case {i}: {e}")));
                assert_eq!((image.width, image.height), (300, 200));
            }
        }
        // Years 1970 to the far future on the time axis.
        let span = (0.0, 1e12);
        let png = render_png(
            &spec(300, 200),
            &one("v", vec![(0.0, 1.0), (1e12, 2.0)]),
            span,
        );
        Image::decode(&png.unwrap());
    }

    /// The plot area a PNG carries in its [`AREA_KEYWORD`] chunk.
    fn area_of(png_bytes: &[u8]) -> HashMap<String, f64> {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let reader = decoder.read_info().expect("PNG header");
        let chunk = reader
            .info()
            .uncompressed_latin1_text
            .iter()
            .find(|c| c.keyword == AREA_KEYWORD)
            .expect("the plot area chunk")
            .text
            .clone();
        chunk
            .split(' ')
            .map(|pair| {
                let (key, value) = pair.split_once('=').expect("key=value");
                (key.to_string(), value.parse().expect("a number"))
            })
            .collect()
    }

    #[test]
    fn the_png_says_where_its_plot_area_is() {
        let (spec, series) = (spec(800, 300), one("v", hour_of(|s| s)));
        let png = render_png(&spec, &series, HOUR).unwrap();
        let area = area_of(&png);
        assert_eq!((area["x0"], area["x1"]), HOUR);
        assert_eq!(area["time"], 1.0);
        let image = Image::decode(&png);
        // The axes are drawn on the area's left and bottom edges.
        let (left, bottom) = (area["left"] as u32, area["bottom"] as u32);
        assert!(left > 30 && left < 120, "left edge at {left}");
        assert_eq!(image.pixel(left, bottom - 20), AXIS);
        assert_eq!(image.pixel(left + 50, bottom), AXIS);
        assert_eq!(area["right"], 800.0 - 15.0);
        // The line starts at the left edge and ends at the right one.
        let line = image.where_is(PALETTE[0], &spec, &series);
        let first = line.iter().map(|p| p.0).min().unwrap();
        let last = line.iter().map(|p| p.0).max().unwrap();
        assert!(first <= left + 1 && last + 1 >= area["right"] as u32);
        // Nothing drawn: no area to map a drag onto.
        let empty = render_png(&spec, &[], HOUR).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&empty[..]));
        assert!(decoder
            .read_info()
            .unwrap()
            .info()
            .uncompressed_latin1_text
            .is_empty());
    }

    #[test]
    fn a_second_group_gets_its_own_axis_on_the_right() {
        // Volts around 5 and milliamperes around 1000: on one axis the volts are flat.
        let series = vec![
            Series {
                name: "voltage [V]".into(),
                points: hour_of(|s| 5.0 + (s / 300.0).sin()),
            },
            Series {
                name: "current [mA]".into(),
                points: hour_of(|s| 1000.0 + 200.0 * (s / 600.0).cos()),
            },
        ];
        let rows_of = |spec: &PlotSpec, color| {
            let png = render_png(spec, &series, HOUR).unwrap();
            let line = Image::decode(&png).where_is(color, spec, &series);
            let top = line.iter().map(|p| p.1).min().unwrap();
            let bottom = line.iter().map(|p| p.1).max().unwrap();
            (bottom - top, area_of(&png))
        };
        let one_axis = spec(800, 300);
        let (flat, single) = rows_of(&one_axis, PALETTE[0]);
        assert!(flat < 10, "on one axis the volts span {flat} rows");
        let two_axes = PlotSpec {
            second_axis: Some(1),
            y2label: "Current [mA]".into(),
            ..spec(800, 300)
        };
        let (volts, double) = rows_of(&two_axes, PALETTE[0]);
        let (amps, _) = rows_of(&two_axes, PALETTE[1]);
        assert!(volts > 150, "the volts span only {volts} rows");
        assert!(amps > 150, "the milliamperes span only {amps} rows");
        // Room on the right for the second axis's labels and title.
        assert!(
            double["right"] < single["right"] - 40.0,
            "right edge {} vs {}",
            double["right"],
            single["right"]
        );
        let image = Image::decode(&render_png(&two_axes, &series, HOUR).unwrap());
        let right = double["right"] as u32;
        let ink = (right + 2..800)
            .flat_map(|x| (40..250).map(move |y| (x, y)))
            .filter(|&(x, y)| image.pixel(x, y).0 < 150)
            .count();
        assert!(ink > 200, "no tick labels on the right: {ink} dark pixels");

        // A second group with nothing to draw leaves one axis.
        let only_left = vec![series[0].clone(), one("none", Vec::new()).remove(0)];
        let png = render_png(&two_axes, &only_left, HOUR).unwrap();
        assert_eq!(area_of(&png)["right"], single["right"]);
    }

    #[test]
    fn the_marker_is_a_dashed_black_line_at_its_moment() {
        let series = one("v", hour_of(|s| (s / 300.0).sin()));
        let marked = PlotSpec {
            marker: Some(T0 + 1800.0),
            ..spec(800, 300)
        };
        let png = render_png(&marked, &series, HOUR).unwrap();
        let area = area_of(&png);
        let image = Image::decode(&png);
        let black = image.where_is(MARKER, &marked, &series);
        let columns: std::collections::BTreeSet<u32> = black.iter().map(|p| p.0).collect();
        assert_eq!(columns.len(), 1, "one column: {columns:?}");
        let middle = (area["left"] + area["right"]) / 2.0;
        let column = f64::from(*columns.first().unwrap());
        assert!((column - middle).abs() <= 1.0, "{column} vs {middle}");
        let rows = black.len() as f64;
        let height = area["bottom"] - area["top"];
        assert!(
            rows > height * 0.4 && rows < height * 0.9,
            "{rows} of {height} rows: dashed across the plot"
        );
        // Outside the range, and without one: no marker.
        for marker in [Some(T0 - 1.0), None] {
            let spec = PlotSpec {
                marker,
                ..spec(800, 300)
            };
            let image = Image::decode(&render_png(&spec, &series, HOUR).unwrap());
            assert!(image.where_is(MARKER, &spec, &series).is_empty());
        }
    }

    #[test]
    fn time_axis_title_names_the_utc_date() {
        assert_eq!(
            x_description(&spec(800, 300), HOUR),
            "Time, UTC (2024-03-14)"
        );
        let own = PlotSpec {
            xlabel: "Time".into(),
            ..PlotSpec::default()
        };
        assert_eq!(x_description(&own, HOUR), "Time (UTC, 2024-03-14)");
    }
}
