//! Text patterns: `*` globs (host names, package names, webhook and rule
//! filters). Debian's version order is `atalaya_common::version`.

/// `*` matches any run of characters; everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("lib*", "libc6"));
        assert!(glob("*ssl*", "openssl"));
        assert!(!glob("lib*6", "libc7"));
        assert!(glob("web-*", "web-01"));
        assert!(!glob("a*a", "a"));
    }
}
