//! How MySQL reads a date, a date and time, or a time written as text or as a number: the
//! one reading used both to store values (`quorate_sql`'s date triggers) and to compare them
//! (this crate's collations), so that a string means the same instant in both. (Storing
//! then fits the instant to the column: a DATE keeps the day, a DATETIME(0) drops the
//! fraction.) What these functions return decides the order of date indexes on disk; see
//! the crate's docs before changing it.
//! Each case was checked against MariaDB 10.11 (the tests of `quorate_sql::temporal`).

/// A date and time as a column holds it; zero parts allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parts {
    pub y: u32,
    pub mo: u32,
    pub d: u32,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
    /// Microseconds.
    pub us: u32,
}

fn leap(y: u32) -> bool {
    y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400))
}

fn days_in_month(y: u32, mo: u32) -> u32 {
    match mo {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Parts {
    /// MySQL's checks in its default mode: zero months and days are allowed, an impossible
    /// day is not.
    pub fn valid(&self) -> bool {
        self.y <= 9999
            && self.mo <= 12
            && self.d <= 31
            && (self.mo == 0 || self.d == 0 || self.d <= days_in_month(self.y, self.mo))
            && self.h <= 23
            && self.mi <= 59
            && self.s <= 59
    }
}

/// Microseconds from the digits after a decimal point (at most six used; none is 0).
fn micros(frac: &str) -> Option<u32> {
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kept = &frac.as_bytes()[..frac.len().min(6)];
    let value = kept.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    Some(value * 10u32.pow(6 - kept.len() as u32))
}

/// Two-digit years: 70-99 are 1970-1999, 00-69 are 2000-2069.
fn two_digit_year(y: u32) -> u32 {
    if y < 70 { 2000 + y } else { 1900 + y }
}

/// A date (and time) given as digits without separators, as a number or as text:
/// YYMMDD, YYYYMMDD, YYMMDDHHMMSS or YYYYMMDDHHMMSS (MySQL's reading of numbers).
pub fn parts_of_number(n: u64, us: u32) -> Option<Parts> {
    if n == 0 {
        return Some(Parts::default());
    }
    let (date, time) = match n {
        101..=991_231 => (n, None),
        10_000_101..=99_991_231 => (n, None),
        101_000_000..=991_231_235_959 | 10_000_101_000_000..=99_991_231_235_959 => {
            (n / 1_000_000, Some(n % 1_000_000))
        }
        _ => return None,
    };
    let (y, mo, d) = (date / 10_000, date / 100 % 100, date % 100);
    let y = if n <= 991_231 || (101_000_000..=991_231_235_959).contains(&n) {
        two_digit_year(y as u32)
    } else {
        y as u32
    };
    let t = time.unwrap_or(0);
    Some(Parts {
        y,
        mo: mo as u32,
        d: d as u32,
        h: (t / 10_000) as u32,
        mi: (t / 100 % 100) as u32,
        s: (t % 100) as u32,
        us: if time.is_some() { us } else { 0 },
    })
}

/// Splits `s` at the first byte that is not an ASCII digit: (digits, rest).
fn digits(s: &str) -> (&str, &str) {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    s.split_at(end)
}

/// Leading digits and one following punctuation byte (none at the end of the text).
fn field(s: &str, max_digits: usize) -> Option<(u32, &str)> {
    let (d, rest) = digits(s);
    if d.is_empty() || d.len() > max_digits {
        return None;
    }
    Some((d.parse().ok()?, rest))
}

/// A date and time as text, in any form MySQL accepts (see the module comment).
pub fn parts_of_text(text: &str) -> Option<Parts> {
    let s = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if s.is_empty() {
        return None;
    }
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) if all_digits(w) && all_digits(f) => (w, Some(f)),
        _ => (s, None),
    };
    // `20240305T101112`: the digits on both sides of the T, as one number.
    if let Some((d, t)) = whole.split_once('T')
        && d.len() >= 6
        && all_digits(d)
        && !t.is_empty()
        && all_digits(t)
    {
        return parts_of_text(&format!(
            "{d}{t}{}",
            frac.map(|f| format!(".{f}")).unwrap_or_default()
        ));
    }
    if !whole.is_empty() && all_digits(whole) {
        if whole.len() > 14 {
            return None;
        }
        let us = match frac {
            Some(f) => micros(f)?,
            None => 0,
        };
        return parts_of_number(whole.parse().ok()?, us).filter(|_| whole.len() >= 6);
    }
    let (year_digits, rest) = digits(s);
    if year_digits.is_empty() || year_digits.len() > 4 {
        return None;
    }
    let mut p = Parts {
        y: year_digits.parse().ok()?,
        ..Parts::default()
    };
    if year_digits.len() == 2 {
        p.y = two_digit_year(p.y);
    }
    let rest = rest.strip_prefix(|c: char| c.is_ascii_punctuation())?;
    let (mo, rest) = field(rest, 2)?;
    let rest = rest.strip_prefix(|c: char| c.is_ascii_punctuation())?;
    let (d, rest) = field(rest, 2)?;
    p.mo = mo;
    p.d = d;
    if rest.is_empty() {
        return Some(p);
    }
    let rest = match rest.strip_prefix('T') {
        Some(r) => r,
        None => {
            let r = rest.trim_start_matches(' ');
            if r.len() == rest.len() {
                return None;
            }
            r
        }
    };
    let (h, mut rest) = field(rest, 2)?;
    p.h = h;
    // Minutes and seconds after any punctuation (`10:11:12`, `10.11.12`, `10-11-12`), then
    // a fraction after a point.
    for slot in [&mut p.mi, &mut p.s] {
        let mut chars = rest.chars();
        match (chars.next(), chars.next()) {
            (Some(c), Some(d)) if c.is_ascii_punctuation() && d.is_ascii_digit() => {
                let (v, r) = field(&rest[1..], 2)?;
                *slot = v;
                rest = r;
            }
            _ => break,
        }
    }
    if let Some(f) = rest.strip_prefix('.') {
        p.us = micros(f)?;
        rest = "";
    }
    rest.is_empty().then_some(p)
}

/// A TIME value: sign, hours (up to 838), minutes, seconds, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeParts {
    pub negative: bool,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
    pub us: u32,
}

impl TimeParts {
    pub fn valid(&self) -> bool {
        self.mi <= 59 && self.s <= 59 && (self.h, self.mi, self.s) <= (838, 59, 59)
    }
}

/// HHMMSS as a number (what `101112` and `'1112'` mean in a TIME column).
pub fn time_of_number(n: u64, us: u32) -> Option<TimeParts> {
    if n >= 10_000_000_000 {
        // A whole date and time: its time.
        let p = parts_of_number(n, us)?;
        return Some(TimeParts {
            negative: false,
            h: p.h,
            mi: p.mi,
            s: p.s,
            us: p.us,
        });
    }
    Some(TimeParts {
        negative: false,
        h: u32::try_from(n / 10_000).ok()?,
        mi: (n / 100 % 100) as u32,
        s: (n % 100) as u32,
        us,
    })
}

pub fn time_of_text(text: &str) -> Option<TimeParts> {
    let s = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let (negative, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let first = digits(body);
    // A date and time: its time (a date alone is refused, as MariaDB does).
    if !negative && !first.1.is_empty() && !first.1.starts_with([':', '.', ' ']) {
        if !s.contains([' ', 'T']) {
            return None;
        }
        let p = parts_of_text(s)?;
        return p.valid().then_some(TimeParts {
            negative: false,
            h: p.h,
            mi: p.mi,
            s: p.s,
            us: p.us,
        });
    }
    let (clock, frac) = match body.split_once('.') {
        Some((c, f)) => (c, Some(f)),
        None => (body, None),
    };
    let us = match frac {
        Some(f) => micros(f)?,
        None => 0,
    };
    let mut t = if let Some((days, clock)) = clock.split_once(' ') {
        // D HH:MM[:SS] (MariaDB refuses `D HH`).
        let (d, rest) = field(days, 2)?;
        if !rest.is_empty() || !clock.contains(':') {
            return None;
        }
        let mut t = time_of_clock(clock.trim_start_matches(' '))?;
        t.h += d * 24;
        t
    } else if clock.contains(':') {
        time_of_clock(clock)?
    } else {
        let (d, rest) = digits(clock);
        if d.is_empty() || !rest.is_empty() || d.len() > 10 {
            return None;
        }
        time_of_number(d.parse().ok()?, 0)?
    };
    t.negative = negative;
    t.us = us;
    Some(t)
}

/// `H[:M[:S]]` with each field at least one digit (hours up to three).
fn time_of_clock(s: &str) -> Option<TimeParts> {
    let (h, mut rest) = field(s, 3)?;
    let mut t = TimeParts {
        h,
        ..TimeParts::default()
    };
    for slot in [&mut t.mi, &mut t.s] {
        match rest.strip_prefix(':') {
            Some(r) => {
                let (v, r) = field(r, 2)?;
                *slot = v;
                rest = r;
            }
            None => break,
        }
    }
    rest.is_empty().then_some(t)
}
