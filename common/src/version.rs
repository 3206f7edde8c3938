//! Package version order, as people and package managers read it: is
//! `3.0.19` an upgrade of `3.0.18`?

use std::cmp::Ordering;

/// Compares package versions the way dpkg does: epoch, then upstream and
/// revision by alternating non-digit and digit runs, `~` before anything.
pub fn cmp(a: &str, b: &str) -> Ordering {
    let split_epoch = |v: &str| match v.split_once(':') {
        Some((e, rest)) if e.chars().all(|c| c.is_ascii_digit()) => {
            (e.parse::<u64>().unwrap_or(0), rest.to_owned())
        }
        _ => (0, v.to_owned()),
    };
    let (ea, ra) = split_epoch(a);
    let (eb, rb) = split_epoch(b);
    ea.cmp(&eb).then_with(|| verrevcmp(&ra, &rb))
}

fn order(c: Option<char>) -> i32 {
    match c {
        None => 0,
        Some('~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        while i < a.len() && a[i] == '0' {
            i += 1;
        }
        while j < b.len() && b[j] == '0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_version_order() {
        assert_eq!(cmp("1.2", "1.10"), Ordering::Less);
        assert_eq!(cmp("1:1.0", "2.0"), Ordering::Greater);
        assert_eq!(cmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp("7.88.1-10", "7.88.1-10+deb12u8"), Ordering::Less);
        assert_eq!(cmp("1.01", "1.1"), Ordering::Equal);
        assert_eq!(cmp("3.0.19", "3.0.18"), Ordering::Greater);
    }
}
