//! The simulated CCD: what one frame's pixels are, given the exposure. Electrons per
//! pixel come from dark current (doubling every 6 degC), the scene (a star field on a
//! faint sky, or a uniform lab lamp) through the flat field (vignetting and a fixed
//! pixel-response pattern) while the shutter is open, and cosmic rays; the count in ADU
//! adds the bias level, shot noise and read noise, clamped to 16 bits.

use crate::rng::XorShift;

/// What the sensor looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scene {
    /// Stars on a faint sky (the default).
    #[default]
    Stars,
    /// A uniform lab source, for flat fields.
    Lamp,
    /// Nothing: only dark current reaches the pixels even with the shutter open.
    Dark,
}

/// The fixed properties of the simulated detector.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorModel {
    pub width: usize,
    pub height: usize,
    pub bias_adu: f64,
    pub gain_e_per_adu: f64,
    pub read_noise_e: f64,
    /// Dark current at -100 degC, e-/s/pixel; it doubles every 6 degC warmer.
    pub dark_at_minus_100: f64,
    pub sky_e_per_s: f64,
    pub lamp_e_per_s: f64,
    pub stars: usize,
    /// Cosmic ray hits per second over the whole sensor.
    pub cosmic_rate: f64,
}

impl Default for SensorModel {
    fn default() -> Self {
        SensorModel {
            width: 4096,
            height: 4096,
            bias_adu: 1000.0,
            gain_e_per_adu: 1.5,
            read_noise_e: 5.0,
            dark_at_minus_100: 0.002,
            sky_e_per_s: 5.0,
            lamp_e_per_s: 2000.0,
            stars: 300,
            cosmic_rate: 2.0,
        }
    }
}

/// One exposure as the timing core ran it.
#[derive(Clone, Debug, PartialEq)]
pub struct Exposure {
    pub roi_x: usize,
    pub roi_y: usize,
    pub roi_width: usize,
    pub roi_height: usize,
    pub bin_x: usize,
    pub bin_y: usize,
    pub exptime_s: f64,
    pub shutter_open: bool,
    pub ccd_temp_c: f64,
    pub scene: Scene,
    /// Seconds of readout, for the cosmic rays that hit meanwhile.
    pub readout_s: f64,
}

impl Exposure {
    pub fn out_width(&self) -> usize {
        self.roi_width / self.bin_x
    }
    pub fn out_height(&self) -> usize {
        self.roi_height / self.bin_y
    }
}

impl SensorModel {
    pub fn dark_e_per_s(&self, temp_c: f64) -> f64 {
        self.dark_at_minus_100 * 2f64.powf((temp_c + 100.0) / 6.0)
    }

    /// The flat field at sensor pixel (x, y): vignetting times a fixed response pattern.
    pub fn flat(&self, x: usize, y: usize) -> f64 {
        let dx = (x as f64 / self.width as f64) - 0.5;
        let dy = (y as f64 / self.height as f64) - 0.5;
        let vignetting = 1.0 - 0.4 * (dx * dx + dy * dy);
        let hash = (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        let hash = (hash ^ (hash >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let response = 1.0 + 0.02 * (((hash >> 40) as f64 / (1u64 << 24) as f64) - 0.5);
        vignetting * response
    }

    /// The frame's pixels, little-endian u16 row after row (as the controller's buffer
    /// holds them). `seed` makes each frame's noise its own; the star field is fixed.
    pub fn frame(&self, exposure: &Exposure, seed: u64) -> Vec<u8> {
        let (width, height) = (exposure.out_width(), exposure.out_height());
        let (bx, by) = (exposure.bin_x, exposure.bin_y);
        let area = (bx * by) as f64;
        let mut rng = XorShift::new(seed);
        let normals: Vec<f64> = (0..4096).map(|_| rng.noise()).collect();
        // Scene electrons that are not uniform (stars, cosmic rays), by output pixel.
        let mut extra: Vec<(usize, f64)> = Vec::new();
        let open = exposure.shutter_open && exposure.scene != Scene::Dark;
        let to_out = |x: f64, y: f64| -> Option<usize> {
            let ox = (x - exposure.roi_x as f64) / bx as f64;
            let oy = (y - exposure.roi_y as f64) / by as f64;
            (ox >= 0.0 && oy >= 0.0 && (ox as usize) < width && (oy as usize) < height)
                .then(|| oy as usize * width + ox as usize)
        };
        if open && exposure.scene == Scene::Stars {
            // The same sky every frame: the field's own seed.
            let mut field = XorShift::new(0x005E_ED0F_57A2);
            for _ in 0..self.stars {
                let cx = field.unit() * self.width as f64;
                let cy = field.unit() * self.height as f64;
                let flux = 200.0 * (1.0 / (field.unit() + 0.02)).powf(1.5);
                let sigma = 1.6;
                for dy in -4i32..=4 {
                    for dx in -4i32..=4 {
                        let (px, py) = (cx.floor() + dx as f64, cy.floor() + dy as f64);
                        let r2 = (px + 0.5 - cx).powi(2) + (py + 0.5 - cy).powi(2);
                        let share = (-r2 / (2.0 * sigma * sigma)).exp()
                            / (2.0 * std::f64::consts::PI * sigma * sigma);
                        if let Some(index) = to_out(px, py) {
                            extra.push((index, flux * share * exposure.exptime_s));
                        }
                    }
                }
            }
        }
        let hits = self.cosmic_rate
            * (exposure.exptime_s + exposure.readout_s)
            * (exposure.roi_width * exposure.roi_height) as f64
            / (self.width * self.height) as f64;
        let hits = hits.floor() as usize + usize::from(rng.unit() < hits.fract());
        for _ in 0..hits {
            let x = exposure.roi_x as f64 + rng.unit() * exposure.roi_width as f64;
            let y = exposure.roi_y as f64 + rng.unit() * exposure.roi_height as f64;
            let charge = 800.0 + rng.unit() * 6000.0;
            let length = 1 + rng.below(3) as usize;
            for step in 0..length {
                if let Some(index) = to_out(x + step as f64 * bx as f64, y) {
                    extra.push((index, charge / length as f64));
                }
            }
        }
        extra.sort_unstable_by_key(|(index, _)| *index);
        let dark = self.dark_e_per_s(exposure.ccd_temp_c) * exposure.exptime_s * area;
        let uniform = if !open {
            0.0
        } else {
            match exposure.scene {
                Scene::Stars => self.sky_e_per_s,
                Scene::Lamp => self.lamp_e_per_s,
                Scene::Dark => 0.0,
            }
        } * exposure.exptime_s
            * area;
        let read_var = self.read_noise_e * self.read_noise_e;
        let mut out = Vec::with_capacity(width * height * 2);
        let mut next_extra = extra.iter().peekable();
        for oy in 0..height {
            let sy = exposure.roi_y + oy * by + by / 2;
            for ox in 0..width {
                let sx = exposure.roi_x + ox * bx + bx / 2;
                let index = oy * width + ox;
                let mut electrons = dark + uniform * self.flat(sx, sy);
                while let Some(&&(at, e)) = next_extra.peek() {
                    if at != index {
                        break;
                    }
                    electrons += e;
                    next_extra.next();
                }
                let sigma = (read_var + electrons).sqrt();
                let normal = normals[(rng.next_u64() >> 52) as usize];
                let adu = self.bias_adu + (electrons + sigma * normal) / self.gain_e_per_adu;
                let adu = adu.round().clamp(0.0, 65535.0) as u16;
                out.extend_from_slice(&adu.to_le_bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure(exptime_s: f64, shutter_open: bool, ccd_temp_c: f64) -> Exposure {
        Exposure {
            roi_x: 0,
            roi_y: 0,
            roi_width: 256,
            roi_height: 128,
            bin_x: 1,
            bin_y: 1,
            exptime_s,
            shutter_open,
            ccd_temp_c,
            scene: Scene::Lamp,
            readout_s: 0.0,
        }
    }

    fn mean(frame: &[u8]) -> f64 {
        let sum: f64 = frame
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]) as f64)
            .sum();
        sum / (frame.len() / 2) as f64
    }

    #[test]
    fn bias_dark_and_light_levels() {
        let model = SensorModel {
            cosmic_rate: 0.0,
            ..SensorModel::default()
        };
        let bias = model.frame(&exposure(0.0, false, -100.0), 1);
        assert_eq!(bias.len(), 256 * 128 * 2);
        assert!((mean(&bias) - 1000.0).abs() < 1.0, "{}", mean(&bias));
        let cold = model.frame(&exposure(100.0, false, -100.0), 2);
        let warm = model.frame(&exposure(100.0, false, -40.0), 3);
        assert!(
            mean(&warm) > mean(&cold) + 50.0,
            "{} {}",
            mean(&warm),
            mean(&cold)
        );
        let flat = model.frame(&exposure(1.0, true, -100.0), 4);
        assert!(mean(&flat) > 2000.0, "{}", mean(&flat));
        let binned = model.frame(
            &Exposure {
                bin_x: 2,
                bin_y: 2,
                ..exposure(1.0, true, -100.0)
            },
            5,
        );
        assert_eq!(binned.len(), 128 * 64 * 2);
        assert!(mean(&binned) - 1000.0 > 3.5 * (mean(&flat) - 1000.0));
    }

    #[test]
    fn frames_differ_in_noise_only() {
        let model = SensorModel::default();
        let a = model.frame(&exposure(0.0, false, -100.0), 1);
        let b = model.frame(&exposure(0.0, false, -100.0), 2);
        assert_ne!(a, b);
        assert_eq!(a, model.frame(&exposure(0.0, false, -100.0), 1));
    }
}
