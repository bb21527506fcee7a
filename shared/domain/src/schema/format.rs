//! The `format` checks Kubernetes runs (through go-openapi's `strfmt`), and
//! the parsers CEL needs for formatted strings (`date-time`, `duration`).
//!
//! Unknown formats are accepted and not checked, as in Kubernetes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeDelta};
use serde_json::{Number, Value};

/// Whether `value` satisfies `format`: `None` when the format is unknown or
/// does not apply to this kind of value (e.g. `int32` on a string).
pub(super) fn check(format: &str, value: &Value) -> Option<bool> {
    match value {
        Value::String(s) => check_string(format, s),
        Value::Number(n) => {
            let (min, max) = match format {
                "int32" => (i64::from(i32::MIN), i64::from(i32::MAX)),
                "int64" => (i64::MIN, i64::MAX),
                _ => return None,
            };
            Some(integral_value(n).is_some_and(|i| (min..=max).contains(&i)))
        }
        _ => None,
    }
}

/// The value of an integral JSON number (`3.0` included) that fits an i64.
fn integral_value(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if n.is_u64() {
        return None;
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && (-9.2e18..9.2e18).contains(&f)).then_some(f as i64)
}

fn check_string(format: &str, s: &str) -> Option<bool> {
    Some(match format {
        "date-time" | "datetime" => parse_date_time(s).is_some(),
        "date" => parse_date(s).is_some(),
        "duration" => parse_duration(s).is_some(),
        "uuid" | "uuid3" | "uuid4" | "uuid5" => is_uuid(s),
        "email" => is_email(s),
        "hostname" => is_hostname(s),
        "ipv4" => s.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "uri" => is_uri(s),
        "byte" => parse_byte(s).is_some(),
        "hexcolor" => is_hexcolor(s),
        "password" => true,
        _ => return None,
    })
}

/// A `date-time`: RFC 3339, and the variants `strfmt` also accepts (no colon
/// in the offset, no offset at all meaning UTC, a space for the `T`, minutes
/// precision).
pub(super) fn parse_date_time(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    for layout in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, layout) {
            return Some(t);
        }
    }
    let utc = FixedOffset::east_opt(0)?;
    for layout in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, layout) {
            return Some(t.and_utc().with_timezone(&utc));
        }
    }
    let minutes_utc = s.strip_suffix('Z')?;
    let t = NaiveDateTime::parse_from_str(minutes_utc, "%Y-%m-%dT%H:%M").ok()?;
    Some(t.and_utc().with_timezone(&utc))
}

/// A full-date (`2006-01-02`).
pub(super) fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Standard base64 with padding, as Go's `base64.StdEncoding`.
pub(super) fn parse_byte(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// A duration as `strfmt` parses it: Go's `time.ParseDuration` syntax
/// (`1h30m`, `-1.5s`, `300ms`, `0`), or space-separated `<integer> <unit>`
/// pairs with the longer units (`3 days`, `1w`, `2 hours`).
pub(super) fn parse_duration(s: &str) -> Option<TimeDelta> {
    parse_go_duration(s).or_else(|| parse_unit_duration(s))
}

/// Nanoseconds per unit of Go's `time.ParseDuration`.
fn go_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    })
}

fn parse_go_duration(s: &str) -> Option<TimeDelta> {
    let (negative, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(TimeDelta::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." {
            return None;
        }
        let number: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        nanos += number * go_unit(&rest[..unit_len])?;
        rest = &rest[unit_len..];
    }
    nanos_to_delta(if negative { -nanos } else { nanos })
}

/// Nanoseconds per unit of `strfmt`'s own duration syntax.
fn long_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" | "nanosecond" | "nanoseconds" => 1.0,
        "us" | "µs" | "μs" | "microsecond" | "microseconds" => 1e3,
        "ms" | "millisecond" | "milliseconds" => 1e6,
        "s" | "sec" | "secs" | "second" | "seconds" => 1e9,
        "m" | "min" | "mins" | "minute" | "minutes" => 60e9,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600e9,
        "d" | "day" | "days" => 86400e9,
        "w" | "wk" | "wks" | "week" | "weeks" => 604800e9,
        _ => return None,
    })
}

fn parse_unit_duration(s: &str) -> Option<TimeDelta> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = rest[number_len..].trim_start();
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(rest.len());
        nanos += number * long_unit(&rest[..unit_len].to_ascii_lowercase())?;
        rest = rest[unit_len..].trim_start();
    }
    nanos_to_delta(nanos)
}

fn nanos_to_delta(nanos: f64) -> Option<TimeDelta> {
    // Go durations are int64 nanoseconds: about 292 years.
    if !nanos.is_finite() || nanos.abs() >= 9.2e18 {
        return None;
    }
    Some(TimeDelta::nanoseconds(nanos as i64))
}

/// 8-4-4-4-12 hex digits, the hyphens optional, as `strfmt`'s UUID.
fn is_uuid(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    if s.len() == 32 {
        return true;
    }
    s.len() == 36 && [8, 13, 18, 23].iter().all(|&i| s.as_bytes()[i] == b'-')
}

/// `local@domain`, or `Name <local@domain>`, with no spaces in the address.
fn is_email(s: &str) -> bool {
    let address = match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => s,
    };
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !address.chars().any(char::is_whitespace)
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

/// An RFC 1123 hostname: dot-separated labels of at most 63 letters, digits
/// and inner hyphens, at most 255 characters in all.
fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 255 {
        return false;
    }
    s.split('.').all(|label| {
        !label.is_empty()
            && label.chars().count() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    })
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    let max = match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => 32,
        Ok(IpAddr::V6(_)) => 128,
        Err(_) => return false,
    };
    !prefix.is_empty()
        && prefix.len() <= 3
        && prefix.chars().all(|c| c.is_ascii_digit())
        && prefix.parse::<u32>().is_ok_and(|p| p <= max)
}

/// A MAC address as Go's `net.ParseMAC`: 6, 8 or 20 octets as hex pairs
/// separated by `:` or `-`, or groups of four hex digits separated by `.`.
fn is_mac(s: &str) -> bool {
    let octets_ok = |n: usize| matches!(n, 6 | 8 | 20);
    for sep in [':', '-'] {
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() > 1 {
            return octets_ok(parts.len())
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }
    let groups: Vec<&str> = s.split('.').collect();
    octets_ok(groups.len() * 2)
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// What Go's `url.ParseRequestURI` accepts: an absolute URI (`scheme:...`) or
/// an absolute path, without spaces.
fn is_uri(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    if s.starts_with('/') {
        return true;
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
}

fn is_hexcolor(s: &str) -> bool {
    let hex = s.strip_prefix('#').unwrap_or(s);
    matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit())
}
