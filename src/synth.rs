//! A synthetic Portland portfolio for impact analysis: reproducible from a
//! seed, written as the CSV `ratebook batch` and `ratebook impact` read.
//! Every share and distribution here is a guess where the research gives
//! none; `GUESSES` lists them, and the CLI prints them.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};
use rust_decimal::Decimal;
use std::io::Write;

/// What the portfolio is made of, and where each figure comes from.
pub const GUESSES: &[&str] = &[
    "classes: 80% residential, 20% commercial (the shared benchmark's share; the research gives none); no multifamily accounts, whose sewer and stormwater rates are not in the pack",
    "billing: 50% quarterly, 30% bimonthly, 20% monthly (the shared benchmark's shares; most single-family homes are billed quarterly, portland.md 1.1)",
    "service periods end between 2023-10-05 and 2024-06-30, inside FY23-24, whose figures the pack has; 91, 61 or 30 days, a few days either way",
    "usage: about 5 ccf a month for a home (the published typical bill, portland.md 2), lognormal with sigma 0.5; commercial use 4 times that; June to September 40% higher, December to March 15% lower (a guess)",
    "services: 90% with sewer (the benchmark's share), every account with water and stormwater",
    "winter average: given for residential accounts, the winter use of the period's length, lognormal sigma 0.2 (a guess)",
    "commercial impervious area: lognormal around 8,000 sq ft (a guess)",
    "low-income discount: 4% of residential accounts (DERIVED from the 2017 audit's ~$4M a year at ~$142 a quarterly bill, ~7,000 households, over ~170,000 residential accounts, a guess), tier 1 70%, tier 2 30% (a guess)",
    "Clean River Rewards: 5% of accounts registered, at 100% (a guess)",
];

/// Writes `n` accounts as CSV (with a header) from `seed`.
pub fn write(n: usize, seed: u64, out: &mut dyn Write) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    writeln!(
        out,
        "account.id,account.class,account.billing_frequency,account.services,account.impervious_area_sqft,account.clean_river_rewards_pct,account.low_income_tier,period.from,period.to,usage_ccf,winter_average_ccf"
    )?;
    let start = chrono::NaiveDate::from_ymd_opt(2023, 10, 5).unwrap_or_default();
    let span = (chrono::NaiveDate::from_ymd_opt(2024, 6, 30).unwrap_or_default() - start).num_days();
    let usage_noise = LogNormal::new(0.0, 0.5).map_err(std::io::Error::other)?;
    let winter_noise = LogNormal::new(0.0, 0.2).map_err(std::io::Error::other)?;
    let area = LogNormal::new(8000f64.ln(), 0.8).map_err(std::io::Error::other)?;
    for i in 1..=n {
        let residential = rng.random_bool(0.8);
        let roll: f64 = rng.random();
        let (frequency, days) = if roll < 0.5 {
            ("quarterly", 91)
        } else if roll < 0.8 {
            ("bimonthly", 61)
        } else {
            ("monthly", 30)
        };
        let days = days + rng.random_range(-3i64..=3);
        let to = start + chrono::Duration::days(rng.random_range(0..=span));
        let from = to - chrono::Duration::days(days);
        let sewer = rng.random_bool(0.9);
        let services = if sewer {
            r#""[""water"",""sewer"",""stormwater""]""#
        } else {
            r#""[""water"",""stormwater""]""#
        };
        let months = days as f64 / 30.4;
        let season = match chrono::Datelike::month(&to) {
            6..=9 => 1.4,
            12 | 1..=3 => 0.85,
            _ => 1.0,
        };
        let base = if residential { 5.0 } else { 20.0 };
        let usage = (base * months * season * usage_noise.sample(&mut rng)).round();
        let winter = if residential {
            format!("{}", (base * months * 0.85 * winter_noise.sample(&mut rng)).round())
        } else {
            String::new()
        };
        let sqft = if residential {
            String::new()
        } else {
            format!("{}", area.sample(&mut rng).round())
        };
        let crr = if rng.random_bool(0.05) { "100" } else { "" };
        let tier = if residential && rng.random_bool(0.04) {
            if rng.random_bool(0.7) { "1" } else { "2" }
        } else {
            ""
        };
        writeln!(
            out,
            "S-{i:07},{},{frequency},{services},{sqft},{crr},{tier},{from},{to},{},{winter}",
            if residential { "residential" } else { "commercial" },
            Decimal::from_f64_retain(usage).unwrap_or_default().normalize(),
        )?;
    }
    out.flush()
}
