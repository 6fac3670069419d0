//! `GET /monitor/frame/<n>.png`: a stored frame as a grey-scale preview with a percentile
//! stretch, above a histogram of its pixel values (log counts, the stretch limits marked).
//!
//! The file is read twice, row by row (see [`super::fits`]), never held whole: the first
//! pass finds the value range and averages the pixels into the preview's cells (a frame
//! larger than [`PreviewOptions::max_side`] is binned down), the second counts the values
//! into [`BINS`] bins, from which the percentiles come. Memory is the preview, not the
//! frame. Rows are drawn bottom up (FITS puts the first row at the bottom, as ds9 does).
//! The histogram is drawn by `labwire-plot`, like every other plot of the monitor.
//!
//! Blocking and CPU-bound: it runs in the web's [`crate::web::blocking`] pool.

use super::fits::{Header, ImageLayout};
use labwire_plot::{render_png, PlotSpec, Series, YScale};
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;

/// Histogram bins; integer data spanning fewer values gets one bin per value.
pub const BINS: usize = 65_536;
const READ_BUFFER: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PreviewOptions {
    /// The preview's longer side, pixels; larger frames are binned down to it.
    pub max_side: u32,
    /// Percentiles mapped to black and white.
    pub low: f64,
    pub high: f64,
    /// Pixels of the histogram below the image.
    pub histogram_height: u32,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        PreviewOptions {
            max_side: 800,
            low: 0.5,
            high: 99.5,
            histogram_height: 200,
        }
    }
}

/// What the stretch came out as, in physical pixel values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stretch {
    pub low: f64,
    pub high: f64,
    pub min: f64,
    pub max: f64,
}

/// The preview PNG of the FITS file at `path`, and its stretch.
pub fn render(path: &Path, options: &PreviewOptions) -> Result<(Vec<u8>, Stretch), String> {
    let open = || {
        File::open(path)
            .map(|file| BufReader::with_capacity(READ_BUFFER, file))
            .map_err(|err| format!("{}: {err}", path.display()))
    };
    let mut input = open()?;
    let layout = Header::read(&mut input)?.image()?;
    let mut cells = Cells::new(&layout, options.max_side);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    layout.for_each_row(&mut input, |y, values| {
        for &v in values.iter().filter(|v| v.is_finite()) {
            min = min.min(v);
            max = max.max(v);
        }
        cells.add_row(y, values);
    })?;
    if min > max {
        (min, max) = (0.0, 0.0);
    }
    let mut histogram = Histogram::new(min, max, integer_valued(&layout));
    let mut input = open()?;
    input
        .seek(SeekFrom::Start(layout.data_offset))
        .map_err(|err| format!("{}: {err}", path.display()))?;
    layout.for_each_row(&mut input, |_, values| histogram.add(values))?;
    let low = histogram.percentile(options.low);
    let mut high = histogram.percentile(options.high);
    if high <= low {
        high = low + histogram.width.max(1e-12);
    }
    let stretch = Stretch {
        low,
        high,
        min,
        max,
    };
    let image = cells.grey(&stretch);
    let plot = histogram_plot(&histogram, &stretch, cells.width.max(320), options)?;
    Ok((
        compose(&image, (cells.width, cells.height), &plot)?,
        stretch,
    ))
}

/// Integers stored and scaled by whole numbers: one bin per value is exact.
fn integer_valued(layout: &ImageLayout) -> bool {
    layout.bitpix > 0 && layout.bscale.fract() == 0.0 && layout.bzero.fract() == 0.0
}

/// The preview's cells: sums and counts of the frame's pixels falling in each.
struct Cells {
    factor: u32,
    width: u32,
    height: u32,
    sums: Vec<f64>,
    counts: Vec<u32>,
}

impl Cells {
    fn new(layout: &ImageLayout, max_side: u32) -> Cells {
        let longer = layout.width.max(layout.height);
        let factor = longer.div_ceil(max_side.max(1)).max(1);
        let (width, height) = (
            layout.width.div_ceil(factor),
            layout.height.div_ceil(factor),
        );
        let n = width as usize * height as usize;
        Cells {
            factor,
            width,
            height,
            sums: vec![0.0; n],
            counts: vec![0; n],
        }
    }

    fn add_row(&mut self, y: u32, values: &[f64]) {
        // Bottom row last: the image is shown the way up FITS means.
        let row = (self.height - 1 - y / self.factor) as usize * self.width as usize;
        for (x, &v) in values.iter().enumerate() {
            if v.is_finite() {
                let cell = row + x / self.factor as usize;
                self.sums[cell] += v;
                self.counts[cell] += 1;
            }
        }
    }

    fn grey(&self, stretch: &Stretch) -> Vec<u8> {
        let span = stretch.high - stretch.low;
        self.sums
            .iter()
            .zip(&self.counts)
            .map(|(&sum, &count)| {
                if count == 0 {
                    return 0;
                }
                let level = (sum / f64::from(count) - stretch.low) / span;
                (level.clamp(0.0, 1.0) * 255.0).round() as u8
            })
            .collect()
    }
}

struct Histogram {
    min: f64,
    /// Value span of one bin.
    width: f64,
    counts: Vec<u64>,
    total: u64,
}

impl Histogram {
    fn new(min: f64, max: f64, integers: bool) -> Histogram {
        let span = max - min;
        let (bins, width) = if integers && span < BINS as f64 {
            (span as usize + 1, 1.0)
        } else {
            (BINS, (span / BINS as f64).max(f64::MIN_POSITIVE))
        };
        Histogram {
            min,
            width,
            counts: vec![0; bins],
            total: 0,
        }
    }

    fn add(&mut self, values: &[f64]) {
        let last = self.counts.len() - 1;
        for &v in values.iter().filter(|v| v.is_finite()) {
            let bin = (((v - self.min) / self.width) as usize).min(last);
            self.counts[bin] += 1;
            self.total += 1;
        }
    }

    /// The value below which `percent` of the pixels lie (a bin's lower edge).
    fn percentile(&self, percent: f64) -> f64 {
        let wanted = (percent.clamp(0.0, 100.0) / 100.0 * self.total as f64).ceil() as u64;
        let mut seen = 0;
        for (bin, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= wanted.max(1) {
                return self.value(bin);
            }
        }
        self.value(self.counts.len() - 1)
    }

    fn value(&self, bin: usize) -> f64 {
        self.min + bin as f64 * self.width
    }

    /// At most `columns` points: bins merged so each point is about one pixel column.
    fn points(&self, columns: usize) -> Vec<(f64, f64)> {
        let merge = self.counts.len().div_ceil(columns.max(1)).max(1);
        self.counts
            .chunks(merge)
            .enumerate()
            .map(|(i, chunk)| {
                let count: u64 = chunk.iter().sum();
                (self.value(i * merge), count as f64)
            })
            .collect()
    }
}

fn histogram_plot(
    histogram: &Histogram,
    stretch: &Stretch,
    width: u32,
    options: &PreviewOptions,
) -> Result<(Vec<u8>, u32, u32), String> {
    let points = histogram.points(width as usize);
    let peak = points.iter().map(|p| p.1).fold(1.0, f64::max);
    let marker = |name: &str, x: f64| Series {
        name: name.to_string(),
        points: vec![(x, 1.0), (x, peak)],
    };
    let series = [
        Series {
            name: "pixels".into(),
            points,
        },
        marker(&format!("{} %", options.low), stretch.low),
        marker(&format!("{} %", options.high), stretch.high),
    ];
    let spec = PlotSpec {
        title: String::new(),
        xlabel: "Pixel value".into(),
        ylabel: "Pixels".into(),
        width,
        height: options.histogram_height,
        yscale: YScale::Log,
        time_axis: false,
        ..PlotSpec::default()
    };
    let x_range = if stretch.max > stretch.min {
        (stretch.min, stretch.max + histogram.width)
    } else {
        (stretch.min - 0.5, stretch.min + 0.5)
    };
    let png = render_png(&spec, &series, x_range).map_err(|err| err.to_string())?;
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut decoder = decoder;
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|err| err.to_string())?;
    let mut rgb = vec![0; reader.output_buffer_size().ok_or("histogram too large")?];
    let info = reader.next_frame(&mut rgb).map_err(|err| err.to_string())?;
    rgb.truncate(info.buffer_size());
    if info.color_type != png::ColorType::Rgb {
        return Err(format!("histogram decoded as {:?}", info.color_type));
    }
    Ok((rgb, info.width, info.height))
}

/// The grey image centred above the histogram, as one RGB PNG.
fn compose(
    grey: &[u8],
    (width, height): (u32, u32),
    (plot, plot_width, plot_height): &(Vec<u8>, u32, u32),
) -> Result<Vec<u8>, String> {
    let total_width = width.max(*plot_width) as usize;
    let total_height = (height + plot_height) as usize;
    let mut rgb = vec![255u8; total_width * total_height * 3];
    let left = (total_width - width as usize) / 2;
    for y in 0..height as usize {
        for x in 0..width as usize {
            let level = grey[y * width as usize + x];
            let at = (y * total_width + left + x) * 3;
            rgb[at..at + 3].fill(level);
        }
    }
    let plot_left = (total_width - *plot_width as usize) / 2;
    let row_bytes = *plot_width as usize * 3;
    for y in 0..*plot_height as usize {
        let at = ((height as usize + y) * total_width + plot_left) * 3;
        rgb[at..at + row_bytes].copy_from_slice(&plot[y * row_bytes..(y + 1) * row_bytes]);
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, total_width as u32, total_height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(|err| err.to_string())?;
    writer
        .write_image_data(&rgb)
        .map_err(|err| err.to_string())?;
    writer.finish().map_err(|err| err.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::fits::tests::u16_fits;
    use super::*;

    #[test]
    fn percentiles_stretch_a_ramp() {
        let dir = labwire_testkit::TempDir::new("preview");
        let path = dir.path().join("ramp.fits");
        // 100 x 100, values 1000..=10999 along the rows: percentiles are exact.
        std::fs::write(
            &path,
            u16_fits(100, 100, |x, y| (1000 + x + 100 * y) as u16),
        )
        .unwrap();
        let (png, stretch) = render(&path, &PreviewOptions::default()).unwrap();
        assert_eq!((stretch.min, stretch.max), (1000.0, 10999.0));
        assert_eq!(stretch.low, 1049.0);
        assert_eq!(stretch.high, 10949.0);
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (320, 100 + 200));
    }

    #[test]
    fn large_frames_are_binned_and_flipped() {
        let layout = ImageLayout {
            bitpix: 16,
            width: 4096,
            height: 4096,
            bzero: 32768.0,
            bscale: 1.0,
            data_offset: 2880,
        };
        let mut cells = Cells::new(&layout, 800);
        assert_eq!((cells.factor, cells.width, cells.height), (6, 683, 683));
        let bright = vec![100.0; 4096];
        cells.add_row(0, &bright);
        let grey = cells.grey(&Stretch {
            low: 0.0,
            high: 100.0,
            min: 0.0,
            max: 100.0,
        });
        // The first FITS row is the bottom line of the preview.
        assert_eq!(grey[682 * 683], 255);
        assert_eq!(grey[0], 0);
    }

    #[test]
    fn a_flat_frame_still_draws() {
        let dir = labwire_testkit::TempDir::new("preview-flat");
        let path = dir.path().join("flat.fits");
        std::fs::write(&path, u16_fits(10, 10, |_, _| 7)).unwrap();
        let (_, stretch) = render(&path, &PreviewOptions::default()).unwrap();
        assert_eq!((stretch.low, stretch.min, stretch.max), (7.0, 7.0, 7.0));
        assert!(stretch.high > stretch.low);
    }
}
