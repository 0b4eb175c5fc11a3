//! Dates and service periods: parsing, day counts, and business days on a
//! pack's calendar. Pure; never reads the clock.

pub use chrono::NaiveDate;
use chrono::{Datelike, Weekday};
use std::sync::Arc;

/// Parses an ISO date (`2024-05-12`).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    // Exactly YYYY-MM-DD (chrono's general parser also takes signed and
    // longer years, which a meter read never has, and is slower).
    // Ten characters cannot be a date with space around it: trim only
    // when there may be some.
    let b = match text.len() {
        10 => text.as_bytes(),
        _ => text.trim().as_bytes(),
    };
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *b else {
        return None;
    };
    // Each digit's value, checked all at once (a non-digit wraps past 9).
    let digits = [y0, y1, y2, y3, m0, m1, d0, d1].map(|c| u16::from(c.wrapping_sub(b'0')));
    if digits.iter().any(|d| *d > 9) {
        return None;
    }
    let [y0, y1, y2, y3, m0, m1, d0, d1] = digits;
    let year = i32::from(y0 * 1000 + y1 * 100 + y2 * 10 + y3);
    NaiveDate::from_ymd_opt(year, u32::from(m0 * 10 + m1), u32::from(d0 * 10 + d1))
}

/// A service period between two meter reads. Service days = `to - from`:
/// the day of the later read starts the next period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    pub fn days(&self) -> i64 {
        i64::from(self.to.num_days_from_ce()) - i64::from(self.from.num_days_from_ce())
    }
}

/// A day the City's offices are closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: Arc<str>,
}

/// Non-working days: weekends plus the pack's listed holidays. Holidays are
/// dated pack data with a source and a status; where the list says which
/// dates it covers, a business-day count that reaches outside them cannot be
/// made (the holidays of that year are not in the pack).
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    /// Sorted by date.
    pub holidays: Vec<Holiday>,
    /// The first and last dates the holiday list covers, when it says so.
    pub covers: Option<(NaiveDate, NaiveDate)>,
    /// Whether the list is the City's own (`published`) or an `assumed` one.
    pub assumed: bool,
    pub source: Arc<str>,
}

/// A business-day count: the date reached and the holidays passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessDays<'a> {
    pub date: NaiveDate,
    pub skipped: Vec<&'a Holiday>,
}

impl Calendar {
    fn holiday(&self, d: NaiveDate) -> Option<&Holiday> {
        self.holidays
            .binary_search_by_key(&d, |h| h.date)
            .ok()
            .and_then(|i| self.holidays.get(i))
    }

    fn covered(&self, d: NaiveDate) -> bool {
        self.covers.is_none_or(|(from, to)| from <= d && d <= to)
    }

    /// Whether `d` is a business day; `Err(d)` when the pack's holiday list
    /// does not cover it.
    pub fn is_business_day(&self, d: NaiveDate) -> Result<bool, NaiveDate> {
        if !self.covered(d) {
            return Err(d);
        }
        Ok(!matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && self.holiday(d).is_none())
    }

    /// The date `n` business days after `d` (n >= 0; `d` itself is not
    /// counted), with the holidays passed over; `Err(day)` with the first day
    /// the holiday list does not cover, or the date range's end.
    pub fn add_business_days(&self, d: NaiveDate, n: i64) -> Result<BusinessDays<'_>, NaiveDate> {
        let mut day = d;
        let mut left = n.max(0);
        let mut skipped = Vec::new();
        while left > 0 {
            day = day.succ_opt().ok_or(day)?;
            if !self.covered(day) {
                return Err(day);
            }
            if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                continue;
            }
            match self.holiday(day) {
                Some(h) => skipped.push(h),
                None => left -= 1,
            }
        }
        Ok(BusinessDays { date: day, skipped })
    }
}

/// A date written as `YYYY-MM-DD` straight into the output: a
/// determination carries dozens of dates, and chrono's formatter costs
/// about ten times as much. Years outside 0..=9999 go through chrono.
#[derive(Debug, Clone, Copy)]
pub struct Iso(pub NaiveDate);

impl serde::Serialize for Iso {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let Ok(year) = u32::try_from(d.year()) else {
            return s.collect_str(&d);
        };
        if year > 9999 {
            return s.collect_str(&d);
        }
        let digit = |n: u32| b'0' + (n % 10) as u8;
        let (m, day) = (d.month(), d.day());
        let b = [
            digit(year / 1000),
            digit(year / 100),
            digit(year / 10),
            digit(year),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(day / 10),
            digit(day),
        ];
        s.serialize_str(std::str::from_utf8(&b).unwrap_or_default())
    }
}

/// `serialize_with` for a date field.
pub fn ser<S: serde::Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&Iso(*d), s)
}

/// `serialize_with` for an optional date field.
pub fn ser_opt<S: serde::Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&d.map(Iso), s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_strict_iso() {
        assert_eq!(parse_date("2024-02-29"), NaiveDate::from_ymd_opt(2024, 2, 29));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01",
            "2024/01/01",
            "+2024-01-01",
            "２０２４-01-01",
            "2024-0a-01",
            "2024-01-0/",
            "2024-01-:1",
            " 2024-1-01",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(parse_date(" 2024-02-29\n"), NaiveDate::from_ymd_opt(2024, 2, 29));
    }

    proptest::proptest! {
        /// Any ten characters parse as chrono's strict `%Y-%m-%d` reads them.
        #[test]
        fn dates_parse_as_chrono_reads_them(text in "[0-9/:a -]{4}-[0-9/:]{2}-[0-9/: ]{2}") {
            let chrono = NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()
                .filter(|_| text.bytes().all(|b| b.is_ascii_digit() || b == b'-'));
            proptest::prop_assert_eq!(parse_date(&text), chrono);
        }
    }

    #[test]
    fn service_days_exclude_the_later_read() {
        let p = Period {
            from: parse_date("2024-05-12").unwrap(),
            to: parse_date("2024-08-07").unwrap(),
        };
        assert_eq!(p.days(), 87);
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let cal = Calendar {
            holidays: vec![Holiday {
                date: parse_date("2024-07-04").unwrap(),
                name: Arc::from("Independence Day"),
            }],
            covers: Some((parse_date("2024-01-01").unwrap(), parse_date("2024-12-31").unwrap())),
            ..Calendar::default()
        };
        // Wed 2024-07-03 + 3 business days: Fri 5, Mon 8, Tue 9 (Thu 4 is a holiday).
        let r = cal.add_business_days(parse_date("2024-07-03").unwrap(), 3).unwrap();
        assert_eq!(r.date, parse_date("2024-07-09").unwrap());
        assert_eq!(r.skipped.len(), 1);
        // Counting into a year the list does not cover cannot be done.
        assert_eq!(
            cal.add_business_days(parse_date("2024-12-30").unwrap(), 3),
            Err(parse_date("2025-01-01").unwrap())
        );
        assert_eq!(cal.is_business_day(parse_date("2024-07-04").unwrap()), Ok(false));
    }

    #[test]
    fn iso_dates_are_chronos_text() {
        let mut d = NaiveDate::MIN;
        let mut checked = 0;
        while d < NaiveDate::MAX {
            let fast = serde_json::to_string(&Iso(d)).unwrap_or_default();
            assert_eq!(fast, format!("\"{d}\""), "{d:?}");
            checked += 1;
            d = d
                .checked_add_days(chrono::Days::new(if (-1..=10_000).contains(&d.year()) {
                    13
                } else {
                    100_003
                }))
                .unwrap_or(NaiveDate::MAX);
        }
        assert!(checked > 250_000);
    }
}
