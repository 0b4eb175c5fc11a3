//! Exact numbers: parsing decimal text without binary floats, and the named
//! rounding rules. Owns nothing else; every amount in ratebook passes here.

use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

/// Money is rounded half-up (away from zero at exactly half a cent) to whole
/// cents, line by line. This is the City's published practice: the FY23-24
/// typical water bill of $56.22 reproduces only with per-line half-up rounding.
pub fn round_money(amount: Decimal) -> Decimal {
    round_half_up(amount, 2)
}

/// Half-up rounding to `places` decimal places (not banker's rounding).
pub fn round_half_up(value: Decimal, places: u32) -> Decimal {
    value.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
}

/// Parses decimal text such as `"7.006"`, `"-12"` or `"1e3"`. Thousands
/// separators and currency signs are refused: a figure must be written plainly.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    Decimal::from_str(t).or_else(|_| Decimal::from_scientific(t)).ok()
}

/// Converts a JSON number to an exact decimal. Integers are exact; a number
/// with a fraction is taken from its shortest round-trip text (exact for any
/// figure written with up to 15 significant digits, which covers usage and
/// areas). Pack files never come through here: their figures must be quoted.
pub fn decimal_from_json_number(n: &serde_json::Number) -> Option<Decimal> {
    if let Some(i) = n.as_i64() {
        return Some(Decimal::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(Decimal::from(u));
    }
    parse_decimal(&n.to_string())
}

/// Renders a decimal without trailing zeros beyond what it carries
/// (`7.0060` stays `7.0060`: the scale a figure was written with is kept).
pub fn money_text(amount: Decimal) -> String {
    format!("{:.2}", round_money(amount))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_up_not_bankers() {
        let d = parse_decimal("83.895").unwrap();
        assert_eq!(round_money(d).to_string(), "83.90");
        let d = parse_decimal("0.125").unwrap();
        assert_eq!(round_money(d).to_string(), "0.13");
        let d = parse_decimal("-0.125").unwrap();
        assert_eq!(round_money(d).to_string(), "-0.13");
    }

    #[test]
    fn parses_plain_text_only() {
        assert_eq!(parse_decimal("18.50").unwrap().to_string(), "18.50");
        assert!(parse_decimal("$18.50").is_none());
        assert!(parse_decimal("1,000").is_none());
        assert!(parse_decimal("").is_none());
    }
}
