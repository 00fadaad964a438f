//! Cheap byte-level type inference for one value, and fast number parsing.

/// What one trimmed, non-null value looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Date,
    DateTime,
    Text,
}

/// A [`Value`]'s variant without its contents: with the kind known from elsewhere, a value
/// is stored in 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Float,
    Bool,
    Date,
    DateTime,
    Text,
}

impl Value {
    /// The kind and the contents' bits.
    #[inline]
    pub(crate) fn split(self) -> (Kind, u64) {
        match self {
            Value::Int(i) => (Kind::Int, i as u64),
            Value::Float(x) => (Kind::Float, x.to_bits()),
            Value::Bool(b) => (Kind::Bool, u64::from(b)),
            Value::Date => (Kind::Date, 0),
            Value::DateTime => (Kind::DateTime, 0),
            Value::Text => (Kind::Text, 0),
        }
    }

    /// The value [`Value::split`] gave `kind` and `bits` for.
    #[inline]
    pub(crate) fn join(kind: Kind, bits: u64) -> Value {
        match kind {
            Kind::Int => Value::Int(bits as i64),
            Kind::Float => Value::Float(f64::from_bits(bits)),
            Kind::Bool => Value::Bool(bits != 0),
            Kind::Date => Value::Date,
            Kind::DateTime => Value::DateTime,
            Kind::Text => Value::Text,
        }
    }
}

/// Classifies a trimmed, non-empty value. Numbers with a redundant leading zero ("00501",
/// "-07", "00.5") are codes, so they stay text.
#[inline]
pub(crate) fn classify(v: &[u8]) -> Value {
    let first = v.first().copied().unwrap_or(b' ');
    if first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.') {
        if let Some(n) = parse_number(v) {
            return n;
        }
        if v.len() >= 10 && first.is_ascii_digit() {
            if is_date(v) {
                return Value::Date;
            }
            if is_datetime(v) {
                return Value::DateTime;
            }
        }
        return Value::Text;
    }
    parse_bool(v).map_or(Value::Text, Value::Bool)
}

fn parse_bool(v: &[u8]) -> Option<bool> {
    let (truth, word): (bool, &[u8]) = match v.first()? | 0x20 {
        b't' => (true, b"true"),
        b'y' => (true, b"yes"),
        b'f' => (false, b"false"),
        b'n' => (false, b"no"),
        _ => return None,
    };
    (v.len() == 1 || v.eq_ignore_ascii_case(word)).then_some(truth)
}

/// Exact powers of ten representable in an f64 (Clinger's fast path).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses `[+-]digits[.digits][(e|E)[+-]digits]`; `None` when the value is not such a number
/// or has a redundant leading zero.
#[inline]
pub(crate) fn parse_number(v: &[u8]) -> Option<Value> {
    let len = v.len();
    let mut i = 0;
    let neg = match v.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    let mut mantissa: u64 = 0;
    let mut digits = 0u32;
    if len <= 19 {
        // Too short to overflow: no digit-count check per digit.
        while i < len && v[i].is_ascii_digit() {
            mantissa = mantissa * 10 + u64::from(v[i] - b'0');
            i += 1;
        }
        digits = (i - int_start) as u32;
    }
    while i < len && v[i].is_ascii_digit() {
        if digits < 19 {
            mantissa = mantissa * 10 + u64::from(v[i] - b'0');
        }
        digits += 1;
        i += 1;
    }
    let int_digits = i - int_start;
    if int_digits > 1 && v[int_start] == b'0' {
        return None;
    }
    if i == len {
        if int_digits == 0 {
            return None;
        }
        if digits <= 19 {
            if neg && mantissa <= i64::MAX as u64 + 1 {
                return Some(Value::Int((mantissa as i64).wrapping_neg()));
            }
            if !neg && mantissa <= i64::MAX as u64 {
                return Some(Value::Int(mantissa as i64));
            }
        }
        return slow_float(v);
    }
    let mut frac_digits = 0i32;
    if v[i] == b'.' {
        i += 1;
        if len <= 19 {
            // Too short to overflow, as above.
            let frac_start = i;
            while i < len && v[i].is_ascii_digit() {
                mantissa = mantissa * 10 + u64::from(v[i] - b'0');
                i += 1;
            }
            frac_digits = (i - frac_start) as i32;
            digits += frac_digits as u32;
        }
        while i < len && v[i].is_ascii_digit() {
            if digits < 19 {
                mantissa = mantissa * 10 + u64::from(v[i] - b'0');
                frac_digits += 1;
            }
            digits += 1;
            i += 1;
        }
        if int_digits == 0 && digits == 0 {
            return None;
        }
    } else if int_digits == 0 {
        return None;
    }
    let mut exp: i32 = 0;
    if i < len && (v[i] | 0x20) == b'e' {
        i += 1;
        let exp_neg = match v.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exp_start = i;
        while i < len && v[i].is_ascii_digit() {
            exp = exp
                .saturating_mul(10)
                .saturating_add(i32::from(v[i] - b'0'));
            i += 1;
        }
        if i == exp_start {
            return None;
        }
        if exp_neg {
            exp = -exp;
        }
    }
    if i != len {
        return None;
    }
    let scale = exp.saturating_sub(frac_digits);
    if digits <= 19 && mantissa < (1u64 << 53) && (-22..=22).contains(&scale) {
        let m = mantissa as f64;
        let x = if scale < 0 {
            m / POW10[scale.unsigned_abs() as usize]
        } else {
            m * POW10[scale as usize]
        };
        return Some(Value::Float(if neg { -x } else { x }));
    }
    slow_float(v)
}

fn slow_float(v: &[u8]) -> Option<Value> {
    let x: f64 = std::str::from_utf8(v).ok()?.parse().ok()?;
    x.is_finite().then_some(Value::Float(x))
}

fn two_digits(v: &[u8], at: usize) -> Option<u32> {
    let (a, b) = (*v.get(at)?, *v.get(at + 1)?);
    (a.is_ascii_digit() && b.is_ascii_digit())
        .then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
}

/// `YYYY-MM-DD` with a real calendar day.
fn date_prefix(v: &[u8]) -> bool {
    if v.len() < 10 || v[4] != b'-' || v[7] != b'-' {
        return false;
    }
    let (Some(c), Some(y), Some(m), Some(d)) = (
        two_digits(v, 0),
        two_digits(v, 2),
        two_digits(v, 5),
        two_digits(v, 8),
    ) else {
        return false;
    };
    let year = c * 100 + y;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn is_date(v: &[u8]) -> bool {
    v.len() == 10 && date_prefix(v)
}

/// RFC 3339 (`T` or a space between date and time), with optional fraction and optional
/// offset (`Z`, `+hh:mm`, `+hhmm`); without an offset it is a local datetime.
fn is_datetime(v: &[u8]) -> bool {
    if v.len() < 19 || !date_prefix(v) || !matches!(v[10], b'T' | b't' | b' ') {
        return false;
    }
    if v[13] != b':' || v[16] != b':' {
        return false;
    }
    match (two_digits(v, 11), two_digits(v, 14), two_digits(v, 17)) {
        (Some(h), Some(m), Some(s)) if h < 24 && m < 60 && s <= 60 => {}
        _ => return false,
    }
    let mut i = 19;
    if v.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < v.len() && v[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &v[i..] {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', rest @ ..] => {
            let hm = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => [*h1, *h2, *m1, *m2],
                _ => return false,
            };
            matches!((two_digits(&hm, 0), two_digits(&hm, 2)), (Some(h), Some(m)) if h < 24 && m < 60)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_codes() {
        assert_eq!(classify(b"0"), Value::Int(0));
        assert_eq!(classify(b"-42"), Value::Int(-42));
        assert_eq!(classify(b"+7"), Value::Int(7));
        assert_eq!(classify(b"00501"), Value::Text);
        assert_eq!(classify(b"-007"), Value::Text);
        assert_eq!(classify(b"9223372036854775807"), Value::Int(i64::MAX));
        assert_eq!(classify(b"-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(
            classify(b"9223372036854775808"),
            Value::Float(9223372036854775808.0)
        );
    }

    #[test]
    fn floats() {
        assert_eq!(classify(b"3.25"), Value::Float(3.25));
        assert_eq!(classify(b"-0.5"), Value::Float(-0.5));
        assert_eq!(classify(b".5"), Value::Float(0.5));
        assert_eq!(classify(b"5."), Value::Float(5.0));
        assert_eq!(classify(b"1e3"), Value::Float(1000.0));
        assert_eq!(classify(b"-2.5E-3"), Value::Float(-0.0025));
        assert_eq!(classify(b"00.5"), Value::Text);
        assert_eq!(classify(b"1e"), Value::Text);
        assert_eq!(classify(b"."), Value::Text);
        assert_eq!(classify(b"-"), Value::Text);
        assert_eq!(classify(b"1.2.3"), Value::Text);
        assert_eq!(classify(b"inf"), Value::Text);
        assert_eq!(classify(b"1e999"), Value::Text);
    }

    #[test]
    fn fast_path_matches_std() {
        for s in [
            "0.1",
            "107.62",
            "0.1575",
            "123456789.123456",
            "1e22",
            "4.35",
            "-9.99e-5",
        ] {
            assert_eq!(
                classify(s.as_bytes()),
                Value::Float(s.parse().unwrap()),
                "{s}"
            );
        }
        let long = "3.14159265358979323846264338327950288";
        assert_eq!(
            classify(long.as_bytes()),
            Value::Float(long.parse().unwrap())
        );
    }

    #[test]
    fn values_split_and_join() {
        for v in [
            Value::Int(-7),
            Value::Int(i64::MIN),
            Value::Float(-0.0),
            Value::Float(2.5e-300),
            Value::Bool(true),
            Value::Bool(false),
            Value::Date,
            Value::DateTime,
            Value::Text,
        ] {
            let (kind, bits) = v.split();
            let joined = Value::join(kind, bits);
            assert_eq!(joined.split(), (kind, bits), "{v:?}");
        }
    }

    #[test]
    fn booleans() {
        for t in ["true", "TRUE", "True", "yes", "Y", "t"] {
            assert_eq!(classify(t.as_bytes()), Value::Bool(true), "{t}");
        }
        for f in ["false", "FALSE", "no", "N", "f"] {
            assert_eq!(classify(f.as_bytes()), Value::Bool(false), "{f}");
        }
        assert_eq!(classify(b"truth"), Value::Text);
    }

    #[test]
    fn dates_and_datetimes() {
        assert_eq!(classify(b"2024-02-29"), Value::Date);
        assert_eq!(classify(b"2023-02-29"), Value::Text);
        assert_eq!(classify(b"2024-13-01"), Value::Text);
        assert_eq!(classify(b"2024-01-05T10:20:30Z"), Value::DateTime);
        assert_eq!(classify(b"2024-01-05T10:20:30.123+02:00"), Value::DateTime);
        assert_eq!(classify(b"2024-01-05 10:20:30"), Value::DateTime);
        assert_eq!(classify(b"2024-01-05T25:20:30Z"), Value::Text);
        assert_eq!(classify(b"2024-01-05T10:20:30+2"), Value::Text);
    }
}
