//! A DS18B20's `w1_slave` file as the Linux w1-therm driver writes it: the nine
//! scratchpad bytes in hex with the driver's CRC verdict, then the bytes again with the
//! temperature in milli-degrees C.

/// What a simulated probe does wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeFault {
    /// The probe is gone: its directory disappears from the w1 bus.
    Unplugged,
    /// Reads arrive garbled: the driver says `crc=.. NO`.
    CrcError,
    /// The probe lost power and answers its power-on value, 85 °C (with a valid CRC).
    PowerOn,
}

/// The Dallas/Maxim CRC-8 (polynomial x^8 + x^5 + x^4 + 1, reflected) the scratchpad ends with.
pub fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in bytes {
        let mut b = byte;
        for _ in 0..8 {
            let mix = (crc ^ b) & 1;
            crc >>= 1;
            if mix != 0 {
                crc ^= 0x8C;
            }
            b >>= 1;
        }
    }
    crc
}

/// The file's text for a probe reading `celsius` (12-bit resolution, 1/16 °C), or what
/// `fault` makes of it. `None` for an unplugged probe (no file at all).
pub fn w1_slave_text(celsius: f64, fault: Option<ProbeFault>) -> Option<String> {
    let celsius = match fault {
        Some(ProbeFault::Unplugged) => return None,
        Some(ProbeFault::PowerOn) => 85.0,
        _ => celsius.clamp(-55.0, 125.0),
    };
    let raw = (celsius * 16.0).round() as i16;
    let [low, high] = raw.to_le_bytes();
    let mut pad = [low, high, 0x4b, 0x46, 0x7f, 0xff, 0x0e, 0x10, 0];
    pad[8] = crc8(&pad[..8]);
    let verdict = if fault == Some(ProbeFault::CrcError) {
        // A bit flipped on the wire: the CRC no longer matches.
        pad[1] ^= 0x04;
        "NO"
    } else {
        "YES"
    };
    let hex: Vec<String> = pad.iter().map(|b| format!("{b:02x}")).collect();
    let hex = hex.join(" ");
    let milli = i32::from(i16::from_le_bytes([pad[0], pad[1]])) * 1000 / 16;
    Some(format!(
        "{hex} : crc={:02x} {verdict}\n{hex} t={milli}\n",
        pad[8]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_kernel_example_byte_for_byte() {
        // The w1 driver's format: `72 01 4b 46 7f ff 0e 10 57 : crc=57 YES`, `t=23125`.
        assert_eq!(
            w1_slave_text(23.125, None).unwrap(),
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
        );
        assert!(w1_slave_text(-10.0625, None)
            .unwrap()
            .ends_with("t=-10062\n"));
        assert!(w1_slave_text(20.0, Some(ProbeFault::PowerOn))
            .unwrap()
            .ends_with("t=85000\n"));
        assert!(w1_slave_text(20.0, Some(ProbeFault::CrcError))
            .unwrap()
            .contains(" NO\n"));
        assert_eq!(w1_slave_text(20.0, Some(ProbeFault::Unplugged)), None);
    }
}
