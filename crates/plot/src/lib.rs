//! PNG plots of labwire history, drawn on the server.
//!
//! The monitor answers `GET /monitor/plot/<client>/<plot_id>` by reading the plot's
//! `values` from its store, turning the abscissa (usually `time`) and each further
//! variable into a [`Series`], and calling [`render_png`] inside `spawn_blocking`.
//!
//! Layout:
//!
//! - `render`: [`render_png`] and its types; [`render_png_with_plans`] adds planned
//!   series (a setpoint profile), dashed, cut at the range's edges. Decimates each
//!   series, lays out title, legend and plot area, draws grid, ticks and lines (broken at
//!   gaps) with plotters' bitmap backend, then encodes with the `png` crate: as a palette
//!   image when the plot has at most 256 colours (it normally does: about a third of the
//!   RGB size), else as RGB. A second unit's series may go on a y axis of their own on
//!   the right (`PlotSpec::second_axis`), and a moment may be marked with a dashed
//!   vertical line (`PlotSpec::marker`). The PNG says where its plot area is, in a tEXt
//!   chunk named [`AREA_KEYWORD`]: `left=63 right=785 top=30 bottom=250 x0=.. x1=..
//!   time=1` (pixels, the x values at the left and right edges, and whether those are
//!   Unix seconds), so that a page can turn a drag across the image into a time range.
//! - `text`: labels set with `ab_glyph` from DejaVu Sans compiled into the crate
//!   (`fonts/`, with its licence). No system fonts, nothing linking fontconfig or
//!   freetype; plotters draws no text, because its own `ab_glyph` path misplaces glyphs.
//! - [`decimate`]: per-pixel-column min/max reduction, so 86,400 points per series
//!   cost little more to draw than 1,600 and a one-sample spike still shows.
//! - `axis`: tick positions and labels: round UTC times (`HH:MM` up to a day, the date
//!   beyond), 1-2-5 steps for linear axes, decades for log axes; UTC calendar fields
//!   come from `labwire_time`.
//!
//! Performance and size: `cargo bench -p labwire-plot` renders a 24-hour plot at 1 Hz
//! against same-run references.
//!
//! ```
//! use labwire_plot::{render_png, PlotSpec, Series, YScale};
//!
//! let spec = PlotSpec { ylabel: "Pressure [mbar]".into(), yscale: YScale::Log, ..PlotSpec::default() };
//! let series = [Series {
//!     name: "pressure".into(),
//!     points: (0..3600).map(|s| (1.7e9 + s as f64, 1e-3 / (1.0 + s as f64))).collect(),
//! }];
//! let png = render_png(&spec, &series, (1.7e9, 1.7e9 + 3600.0)).unwrap();
//! assert!(png.starts_with(b"\x89PNG"));
//! ```

mod axis;
mod decimate;
mod render;
mod text;

pub use decimate::decimate;
pub use render::{
    clamp_size, render_png, render_png_with_plans, PlotError, PlotSpec, Series, YScale,
    AREA_KEYWORD, MAX_SIZE, MIN_SIZE,
};
