/// Fen per yuan: CNY has exactly two decimal places.
pub const FEN_PER_YUAN: u64 = 100;

/// Formats fen as yuan with exactly two decimals: `123456` -> `"1234.56"`,
/// `-50` -> `"-0.50"`, `0` -> `"0.00"`. Exact for every `i64`, including `i64::MIN`.
pub fn format_fen(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    // unsigned_abs, because -i64::MIN does not fit in an i64.
    let magnitude = fen.unsigned_abs();
    format!(
        "{sign}{}.{:02}",
        magnitude / FEN_PER_YUAN,
        magnitude % FEN_PER_YUAN
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_positive_negative_zero_and_extremes() {
        assert_eq!(format_fen(123_456), "1234.56");
        assert_eq!(format_fen(-50), "-0.50");
        assert_eq!(format_fen(0), "0.00");
        assert_eq!(format_fen(7), "0.07");
        assert_eq!(format_fen(-100), "-1.00");
        assert_eq!(format_fen(i64::MAX), "92233720368547758.07");
        assert_eq!(format_fen(i64::MIN), "-92233720368547758.08");
    }
}
