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

/// 10^0 to 10^28: every power a decimal's scale can need, looked up
/// rather than multiplied out.
const POW10: [i128; 29] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
    10_000_000_000_000_000_000,
    100_000_000_000_000_000_000,
    1_000_000_000_000_000_000_000,
    10_000_000_000_000_000_000_000,
    100_000_000_000_000_000_000_000,
    1_000_000_000_000_000_000_000_000,
    10_000_000_000_000_000_000_000_000,
    100_000_000_000_000_000_000_000_000,
    1_000_000_000_000_000_000_000_000_000,
    10_000_000_000_000_000_000_000_000_000,
];

/// `n / d` rounded half-up (away from zero at a tie); `d` must be
/// positive. A bill's figures fit 64 bits, whose division is several
/// times faster than 128 bits'.
#[inline(always)]
fn divide_half_up(n: i128, d: i128) -> i128 {
    let (q, r) = match (i64::try_from(n), i64::try_from(d)) {
        (Ok(n), Ok(d)) => (i128::from(n / d), i128::from(n % d)),
        _ => (n / d, n % d),
    };
    if r.unsigned_abs() * 2 >= d.unsigned_abs() {
        q + n.signum()
    } else {
        q
    }
}

/// `a * b`, `None` on overflow. A bill's figures multiply within 64 bits,
/// several times faster than an overflow-checked 128-bit product.
#[inline(always)]
fn multiply(a: i128, b: i128) -> Option<i128> {
    match (i64::try_from(a), i64::try_from(b)) {
        (Ok(x), Ok(y)) => match x.checked_mul(y) {
            Some(p) => Some(i128::from(p)),
            None => a.checked_mul(b),
        },
        _ => a.checked_mul(b),
    }
}

/// Half-up rounding to `places` decimal places (not banker's rounding).
pub fn round_half_up(value: Decimal, places: u32) -> Decimal {
    let scale = value.scale();
    if scale <= places {
        return value;
    }
    // Integer arithmetic on the mantissa (the library's general rounding is
    // several times slower); the same result, checked against it in tests.
    let Some(&divisor) = POW10.get((scale - places) as usize) else {
        return value.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    };
    let q = divide_half_up(value.mantissa(), divisor);
    Decimal::try_from_i128_with_scale(q, places)
        .unwrap_or_else(|_| value.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero))
}

/// `x * num / den` rounded half-up to the cent, from the exact rational
/// value (integer arithmetic on the mantissas, one division). This is the
/// cent that rounding the decimal quotient gives: that quotient has 28
/// significant digits, and a divisor below 10^k cannot put k nines or zeros
/// in a row between the cent and the 28th digit. Values too large for the
/// integers fall back to the decimal quotient. `den` must not be zero.
/// `None` when the value is beyond a decimal's 28 digits.
#[inline]
pub fn share_to_cents(x: Decimal, num: Decimal, den: Decimal) -> Option<Decimal> {
    exact_share(x, num, den, 2).or_else(|| {
        let mut a = round_money(divide(x.checked_mul(num)?, den)?);
        a.rescale(2);
        Some(a)
    })
}

/// `x * num / den` rounded half-up to 4 places, as a quantity is shown
/// (`determination::display_quantity`), from the exact rational value as
/// `share_to_cents` finds the cent (the same argument holds two places
/// further on). `None` when the integers cannot hold it: then the decimal
/// quotient is the caller's to round.
pub fn share_to_4_places(x: Decimal, num: Decimal, den: Decimal) -> Option<Decimal> {
    exact_share(x, num, den, 4)
}

/// `x * num / den` rounded half-up to `places` from the exact fraction.
/// Inlined: each caller's places are a constant.
#[inline(always)]
fn exact_share(x: Decimal, num: Decimal, den: Decimal, places: u32) -> Option<Decimal> {
    // x * num / den * 10^p = (mx * mn * 10^(sd + p)) / (md * 10^(sx + sn)).
    let top = multiply(x.mantissa(), num.mantissa())?;
    let shift = i64::from(den.scale()) + i64::from(places) - i64::from(x.scale()) - i64::from(num.scale());
    let pow = |e: i64| POW10.get(usize::try_from(e).ok()?).copied();
    let (top, bottom) = if shift >= 0 {
        (multiply(top, pow(shift)?)?, den.mantissa())
    } else {
        (top, multiply(den.mantissa(), pow(-shift)?)?)
    };
    if bottom <= 0 {
        return None;
    }
    Decimal::try_from_i128_with_scale(divide_half_up(top, bottom), places).ok()
}

/// The exact sum of amounts; `None` beyond a decimal's 28 digits. Amounts
/// already in cents (as every line's is) add as whole numbers of cents,
/// without the general addition's rescaling.
pub fn sum(amounts: impl Iterator<Item = Decimal> + Clone) -> Option<Decimal> {
    let mut cents: i128 = 0;
    for a in amounts.clone() {
        if a.scale() != 2 {
            return amounts.into_iter().try_fold(Decimal::ZERO, Decimal::checked_add);
        }
        cents = cents.checked_add(a.mantissa())?;
    }
    Decimal::try_from_i128_with_scale(cents, 2).ok()
}

/// `d == 1`, without the general comparison's rescaling when `d` is
/// a whole number (as a day count or the constant one is).
pub fn is_one(d: Decimal) -> bool {
    if d.scale() == 0 {
        d.mantissa() == 1
    } else {
        d == Decimal::ONE
    }
}

/// `x / d`, exactly as `Decimal` division, but dividing by a power of ten
/// (per 1,000 sq ft) is a shift of the scale, not a long division. `None`
/// when the quotient is beyond a decimal's 28 digits (or `d` is zero).
pub fn divide(x: Decimal, d: Decimal) -> Option<Decimal> {
    if d.scale() == 0 && d.is_sign_positive() {
        let mut m = d.mantissa();
        let mut n = 0u32;
        while m >= 10 && m % 10 == 0 {
            m /= 10;
            n += 1;
        }
        let mut r = x;
        if m == 1 && r.set_scale(x.scale() + n).is_ok() {
            return Some(r);
        }
    }
    x.checked_div(d)
}

/// Parses decimal text such as `"7.006"`, `"-12"` or `"1e3"`. Thousands
/// separators and currency signs are refused: a figure must be written plainly.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    parse_trimmed_decimal(text.trim())
}

/// `parse_decimal` for text with no white space around it.
pub fn parse_trimmed_decimal(t: &str) -> Option<Decimal> {
    if t.is_empty() {
        return None;
    }
    Decimal::from_str(t).or_else(|_| Decimal::from_scientific(t)).ok()
}

/// `a < b`, comparing mantissas when both have the same scale (as a
/// bound and the figure checked against it mostly do) and as decimals
/// otherwise.
#[inline]
pub fn less(a: Decimal, b: Decimal) -> bool {
    if a.scale() == b.scale() {
        a.mantissa() < b.mantissa()
    } else {
        a < b
    }
}

/// The lesser of two decimals (`a` when they are equal), as `less` compares.
pub fn lesser(a: Decimal, b: Decimal) -> Decimal {
    if less(b, a) { b } else { a }
}

/// Converts a JSON number to an exact decimal. Integers are exact; a number
/// with a fraction is taken from its shortest round-trip text (exact for any
/// figure written with up to 15 significant digits, which covers usage and
/// areas). Pack files never come through here: their figures must be quoted.
#[inline]
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
    let mut out = String::with_capacity(12);
    push_money(&mut out, amount);
    out
}

/// Appends an amount rounded half-up to the cent, as `money_text` writes it.
pub fn push_money(out: &mut String, amount: Decimal) {
    let a = if amount.scale() == 2 {
        amount
    } else {
        let mut a = round_money(amount);
        a.rescale(2);
        a
    };
    let m = a.mantissa();
    let Ok(cents) = u64::try_from(m.unsigned_abs()) else {
        out.push_str(&format!("{a:.2}"));
        return;
    };
    if m < 0 {
        out.push('-');
    }
    out.push_str(itoa::Buffer::new().format(cents / 100));
    let c = (cents % 100) as usize * 3;
    out.push_str(CENTS.get(c..c + 3).unwrap_or(".00"));
}

/// `.00` to `.99`, each three characters: the cents of an amount, looked
/// up (a batch writes millions of amounts).
const CENTS: &str = ".00.01.02.03.04.05.06.07.08.09.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27.28.29.30.31.32.33.34.35.36.37.38.39.40.41.42.43.44.45.46.47.48.49.50.51.52.53.54.55.56.57.58.59.60.61.62.63.64.65.66.67.68.69.70.71.72.73.74.75.76.77.78.79.80.81.82.83.84.85.86.87.88.89.90.91.92.93.94.95.96.97.98.99";

/// A value serialized as its `Display` text, without a heap string.
pub struct Shown<T>(pub T);

impl<T: std::fmt::Display> serde::Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ser_display(&self.0, s)
    }
}

/// An amount shown to the cent (half-up), as the JSON writes money.
pub struct Cents(pub Decimal);

impl std::fmt::Display for Cents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}", round_money(self.0))
    }
}

/// Serializes a value's `Display` text through a buffer on the stack
/// (amounts, rates and quantities are short; a determination has dozens).
pub fn ser_display<S: serde::Serializer>(v: &dyn std::fmt::Display, s: S) -> Result<S::Ok, S::Error> {
    struct Buf {
        bytes: [u8; 64],
        len: usize,
    }
    impl std::fmt::Write for Buf {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            let end = self.len + text.len();
            self.bytes
                .get_mut(self.len..end)
                .ok_or(std::fmt::Error)?
                .copy_from_slice(text.as_bytes());
            self.len = end;
            Ok(())
        }
    }
    let mut buf = Buf { bytes: [0; 64], len: 0 };
    match std::fmt::write(&mut buf, format_args!("{v}")) {
        Ok(()) => {
            s.serialize_str(std::str::from_utf8(buf.bytes.get(..buf.len).unwrap_or_default()).unwrap_or_default())
        }
        Err(_) => s.collect_str(v),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_of_powers_is_ten_to_each_power() {
        for (k, p) in super::POW10.iter().enumerate() {
            assert_eq!(Some(*p), 10i128.checked_pow(k as u32), "10^{k}");
        }
    }

    #[test]
    fn is_one_is_equality_with_one() {
        for (x, want) in [
            ("1", true),
            ("1.00", true),
            ("-1", false),
            ("10", false),
            ("0.1", false),
            ("1.01", false),
            ("0", false),
        ] {
            let d: rust_decimal::Decimal = x.parse().unwrap();
            assert_eq!(super::is_one(d), want, "{x}");
        }
    }

    #[test]
    fn money_text_writes_cents() {
        for (x, want) in [
            ("0", "0.00"),
            ("0.05", "0.05"),
            ("-0.05", "-0.05"),
            ("12.345", "12.35"),
            ("-12.345", "-12.35"),
            ("100", "100.00"),
            ("1234567.891", "1234567.89"),
            ("0.004", "0.00"),
            ("-0.004", "0.00"),
            ("0.5", "0.50"),
            ("-7", "-7.00"),
            ("9223372036854775.80", "9223372036854775.80"),
        ] {
            let d: Decimal = x.parse().unwrap_or_default();
            assert_eq!(money_text(d), want, "{x}");
        }
    }

    use super::*;

    proptest::proptest! {
        /// The cent from the exact share is the cent of the decimal
        /// quotient, for bills' sizes of quantity, rate, days and divisor.
        #[test]
        fn a_share_in_cents_is_the_rounded_quotient(
            q in 0i64..10_000_000, qs in 0u32..5,
            rate in 0i64..100_000_000, rs in 0u32..9,
            num in 1i64..1_200, den in 1i64..1_200_000, ds in 0u32..5,
            negative: bool,
        ) {
            let x = Decimal::new(if negative { -q } else { q }, qs) * Decimal::new(rate, rs);
            let (n, d) = (Decimal::from(num), Decimal::new(den, ds));
            let mut want = round_money(divide(x * n, d).unwrap_or_default());
            want.rescale(2);
            proptest::prop_assert_eq!(share_to_cents(x, n, d), Some(want));
        }

        /// A quantity shown to 4 places from the exact share is the
        /// decimal quotient rounded, for bills' sizes of quantity, days and
        /// divisor (per-month charges: area / 1,000 x days / days a month).
        #[test]
        fn a_share_to_4_places_is_the_rounded_quotient(
            q in 0i64..100_000_000, qs in 0u32..7,
            num in 1i64..1_200, den in 1i64..1_200_000, ds in 0u32..5,
        ) {
            let x = Decimal::new(q, qs);
            let (n, d) = (Decimal::from(num), Decimal::new(den, ds));
            let want = round_half_up(divide(x * n, d).unwrap_or_default(), 4);
            let got = share_to_4_places(x, n, d);
            proptest::prop_assert_eq!(got.map(|g| g.normalize()), Some(want.normalize()));
        }

        /// Half-up rounding by the mantissa (64-bit or 128-bit) is the
        /// library's, for any decimal and places.
        #[test]
        fn half_up_rounding_is_the_librarys(
            large in -(1i128 << 96) + 1..(1i128 << 96), small: i64, pick_small: bool,
            scale in 0u32..=28, places in 0u32..8,
        ) {
            let d = Decimal::from_i128_with_scale(if pick_small { i128::from(small) } else { large }, scale);
            proptest::prop_assert_eq!(
                round_half_up(d, places),
                d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
            );
        }

        /// `less` and `lesser` are the library's comparison and `min`,
        /// whatever the signs and scales.
        #[test]
        fn less_is_the_librarys_order(a: i64, sa in 0u32..6, b: i64, sb in 0u32..6, same: bool) {
            let a = Decimal::new(a % 100_000_000, sa);
            let b = Decimal::new(b % 100_000_000, if same { sa } else { sb });
            proptest::prop_assert_eq!(less(a, b), a < b);
            let (l, m) = (lesser(a, b), a.min(b));
            proptest::prop_assert_eq!((l, l.scale()), (m, m.scale()));
        }

        /// An amount is written as the library writes it rounded to the cent.
        #[test]
        fn money_text_is_the_rounded_amount(m: i64, scale in 0u32..8) {
            let d = Decimal::new(m, scale);
            let mut want = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            want.rescale(2);
            proptest::prop_assert_eq!(money_text(d), format!("{want:.2}"));
        }

        /// The 64-bit product is the 128-bit one, and overflow is `None`
        /// either way.
        #[test]
        fn multiply_is_the_checked_product(
            a in -(1i128 << 100)..(1i128 << 100), b in -(1i128 << 100)..(1i128 << 100),
            small_a: i64, small_b: i64, pick: u8,
        ) {
            let a = if pick & 1 == 0 { i128::from(small_a) } else { a };
            let b = if pick & 2 == 0 { i128::from(small_b) } else { b };
            proptest::prop_assert_eq!(multiply(a, b), a.checked_mul(b));
        }

        /// Amounts in cents add as whole cents to the decimal sum; a sum
        /// beyond a decimal's digits is `None`, never rounded.
        #[test]
        fn a_sum_of_cents_is_the_decimal_sum(
            cents in proptest::collection::vec(-(1i128 << 95)..(1i128 << 95), 0..8),
            other_scale in proptest::option::of(0u32..6),
        ) {
            let mut amounts: Vec<Decimal> = cents.iter().map(|&c| Decimal::from_i128_with_scale(c, 2)).collect();
            if let (Some(s), Some(first)) = (other_scale, amounts.first_mut()) {
                first.rescale(s.min(first.scale()));
            }
            let in_cents = amounts.iter().all(|a| a.scale() == 2);
            let exact: i128 = amounts.iter().map(|a| a.mantissa()).sum();
            let want = if in_cents {
                // Exact: the general addition may round a partial sum past
                // 28 digits (a cent lost); whole cents never do.
                Decimal::try_from_i128_with_scale(exact, 2).ok()
            } else {
                amounts.iter().try_fold(Decimal::ZERO, |a, b| a.checked_add(*b))
            };
            proptest::prop_assert_eq!(sum(amounts.iter().copied()), want);
        }
    }

    #[test]
    fn exact_shares_round_half_up() {
        let d = |t: &str| parse_decimal(t).unwrap();
        // 0.125 exactly, and -0.125: away from zero.
        let cents = |x: &str, n: &str, den: &str| share_to_cents(d(x), d(n), d(den)).map(|c| c.to_string());
        assert_eq!(cents("0.5", "1", "4").as_deref(), Some("0.13"));
        assert_eq!(cents("-0.5", "1", "4").as_deref(), Some("-0.13"));
        // 15 ccf x 7.006 x 50 / 87 days = 60.3965...: 60.40.
        assert_eq!(cents("105.090", "50", "87").as_deref(), Some("60.40"));
        // Stormwater: 2.4 x 13.76 x 90 / 30.4375 days a month.
        let want = round_money(d("2.4") * d("13.76") * d("90") / d("30.4375"));
        assert_eq!(share_to_cents(d("2.4") * d("13.76"), d("90"), d("30.4375")), Some(want));
        // Too large for the integers: the decimal quotient.
        let big = Decimal::MAX / d("10");
        assert_eq!(
            share_to_cents(big, d("1"), d("3")),
            divide(big, d("3")).map(round_money)
        );
        // Beyond a decimal: none, not a panic.
        assert_eq!(share_to_cents(Decimal::MAX, d("90"), d("7")), None);
    }

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
    fn fast_rounding_agrees_with_the_library() {
        let cases = [
            "0.005",
            "-0.005",
            "1.994999",
            "1.995",
            "2.345",
            "-2.345",
            "12345678901234567890.125",
            "0.0000000000000000000000000005",
            "7",
            "-7.1",
        ];
        for c in cases {
            let d = parse_decimal(c).unwrap();
            for places in 0..6 {
                assert_eq!(
                    round_half_up(d, places),
                    d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero),
                    "{c} to {places}"
                );
            }
        }
    }

    #[test]
    fn divide_by_powers_of_ten_is_exact() {
        let x = parse_decimal("2400").unwrap();
        assert_eq!(divide(x, Decimal::from(1000)).unwrap().to_string(), "2.400");
        assert_eq!(divide(x, Decimal::from(1000)), Some(x / Decimal::from(1000)));
        assert_eq!(
            divide(x, parse_decimal("30.4").unwrap()),
            Some(x / parse_decimal("30.4").unwrap())
        );
        assert_eq!(divide(x, Decimal::ONE), Some(x));
        assert_eq!(divide(Decimal::MAX, parse_decimal("0.5").unwrap()), None);
    }

    #[test]
    fn parses_plain_text_only() {
        assert_eq!(parse_decimal("18.50").unwrap().to_string(), "18.50");
        assert!(parse_decimal("$18.50").is_none());
        assert!(parse_decimal("1,000").is_none());
        assert!(parse_decimal("").is_none());
    }
}
