//! The fixed exponential number format both instruments put on the wire.

/// `value` as sign, one digit, `decimals` decimals, `E`, sign and at least two exponent
/// digits: `format_exponential(0.00123, 4)` is `+1.2300E-03`, the TPG's `sx.xxxxEsxx`;
/// with 8 decimals it is SCPI's NR3 as the E36300 writes it (`+5.00000000E+00`).
///
/// Non-finite values use SCPI's conventions (9.9E+37 for infinity, 9.91E+37 for NaN)
/// so a reply line never carries `inf` or `NaN`.
pub fn format_exponential(value: f64, decimals: usize) -> String {
    if value.is_nan() {
        return format_exponential(9.91e37, decimals);
    }
    if value.is_infinite() {
        return format_exponential(9.9e37_f64.copysign(value), decimals);
    }
    // Rust's `{:e}` already rounds correctly (9.99996 -> 1.0000e1); only the exponent's
    // spelling differs from the instruments'.
    let formatted = format!("{:.*e}", decimals, value.abs());
    let (mantissa, exponent) = formatted
        .split_once('e')
        .expect("`{:e}` output always has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
    let sign = if value < 0.0 { '-' } else { '+' };
    let exp_sign = if exponent < 0 { '-' } else { '+' };
    format!("{sign}{mantissa}E{exp_sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::format_exponential;

    #[test]
    fn gauge_and_scpi_shapes() {
        assert_eq!(format_exponential(1.23e-3, 4), "+1.2300E-03");
        assert_eq!(format_exponential(0.0, 4), "+0.0000E+00");
        assert_eq!(format_exponential(-0.0, 4), "+0.0000E+00");
        assert_eq!(format_exponential(1000.0, 4), "+1.0000E+03");
        assert_eq!(format_exponential(5.0, 8), "+5.00000000E+00");
        assert_eq!(format_exponential(-25.0, 8), "-2.50000000E+01");
        assert_eq!(format_exponential(0.02, 8), "+2.00000000E-02");
    }

    #[test]
    fn rounding_carries_into_the_exponent() {
        assert_eq!(format_exponential(9.99996, 4), "+1.0000E+01");
        assert_eq!(format_exponential(9.99994e-7, 4), "+9.9999E-07");
    }

    #[test]
    fn non_finite_values_use_scpi_sentinels() {
        assert_eq!(format_exponential(f64::INFINITY, 8), "+9.90000000E+37");
        assert_eq!(format_exponential(f64::NEG_INFINITY, 8), "-9.90000000E+37");
        assert_eq!(format_exponential(f64::NAN, 8), "+9.91000000E+37");
        assert_eq!(format_exponential(1e-120, 4), "+1.0000E-120");
    }
}
