//! Dates and service periods: parsing, day counts, and business days on a
//! pack's calendar. Pure; never reads the clock.

use chrono::{Datelike, NaiveDate, Weekday};

/// Parses an ISO date (`2024-05-12`).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    // Exactly YYYY-MM-DD (chrono's general parser also takes signed and
    // longer years, which a meter read never has, and is slower).
    let b = text.trim().as_bytes();
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *b else {
        return None;
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| u32::from(c - b'0'));
    let year = digit(y0)? * 1000 + digit(y1)? * 100 + digit(y2)? * 10 + digit(y3)?;
    let month = digit(m0)? * 10 + digit(m1)?;
    let day = digit(d0)? * 10 + digit(d1)?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
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

/// Non-working days: weekends plus the pack's listed holidays.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    pub holidays: Vec<NaiveDate>,
}

impl Calendar {
    pub fn is_business_day(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && self.holidays.binary_search(&d).is_err()
    }

    /// The date `n` business days after `d` (n >= 0); `d` itself is not counted.
    pub fn add_business_days(&self, d: NaiveDate, n: i64) -> Option<NaiveDate> {
        let mut day = d;
        let mut left = n.max(0);
        // A bounded walk: at most 7 calendar days per business day plus holidays.
        let mut guard = n.max(0).saturating_mul(7).saturating_add(400);
        while left > 0 {
            day = day.succ_opt()?;
            guard -= 1;
            if guard <= 0 {
                return None;
            }
            if self.is_business_day(day) {
                left -= 1;
            }
        }
        Some(day)
    }
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
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
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
            holidays: vec![parse_date("2024-07-04").unwrap()],
        };
        // Wed 2024-07-03 + 3 business days: Fri 5, Mon 8, Tue 9 (Thu 4 is a holiday).
        let d = cal.add_business_days(parse_date("2024-07-03").unwrap(), 3).unwrap();
        assert_eq!(d, parse_date("2024-07-09").unwrap());
    }
}
