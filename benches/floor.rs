//! The hand-written floor: the FY23-24 residential bill computed directly,
//! shared by the criterion benchmark and `examples/profile_bill.rs`.

use ratebook::money::round_money;
use rust_decimal::Decimal;

/// The typed input of the floor.
pub struct Input {
    pub days: i64,
    pub usage: Decimal,
    pub winter_average: Option<Decimal>,
}

/// The same bill, hand-written: FY23-24 rates as constants, no proration
/// (the period lies in one fiscal year), each line rounded half-up.
pub fn floor(i: &Input) -> (Vec<(&'static str, Decimal)>, Decimal) {
    let d = |s: i64, scale: u32| Decimal::new(s, scale);
    let days = Decimal::from(i.days);
    let sewer_q = i.winter_average.map_or(i.usage, |w| w.min(i.usage));
    let months = days / d(304, 1);
    let lines = vec![
        ("water.volume", round_money(i.usage * d(7006, 3))),
        ("water.base", round_money(days * d(7063, 4))),
        ("sewer.volume", round_money(sewer_q * d(1296, 2))),
        ("stormwater", round_money(d(24, 1) * d(1352, 2) * days / d(304, 1))),
        ("harbor.volume", round_money(sewer_q * d(10, 2))),
        ("harbor.area", round_money(d(24, 1) * months * d(24, 2))),
    ];
    let total = lines.iter().map(|l| l.1).sum();
    (lines, total)
}

/// The floor again, reading its input from the same parsed JSON case the
/// engine gets (as a hand-written billing service would), with the minimum
/// of checking: the fields are there, of the right type, dates are dates.
pub fn floor_from_json(v: &serde_json::Value) -> Option<(Vec<(&'static str, Decimal)>, Decimal)> {
    let num = |x: &serde_json::Value| -> Option<Decimal> {
        x.as_i64()
            .map(Decimal::from)
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
    };
    let account = v.get("account")?;
    let class = account.get("class")?.as_str()?;
    let frequency = account.get("billing_frequency")?.as_str()?;
    if class != "residential" || frequency != "quarterly" {
        return None;
    }
    let period = v.get("period")?;
    let from = ratebook::dates::parse_date(period.get("from")?.as_str()?)?;
    let to = ratebook::dates::parse_date(period.get("to")?.as_str()?)?;
    let input = Input {
        days: (to - from).num_days(),
        usage: num(v.get("usage_ccf")?)?,
        winter_average: v.get("winter_average_ccf").and_then(num),
    };
    Some(floor(&input))
}
