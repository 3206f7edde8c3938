//! The operating system: os-release and the running kernel.

use atalaya_common::model::Os;

use crate::root::{Gaps, Root};

const SOURCE: &str = "os";

/// Reads `/etc/os-release` (or `/usr/lib/os-release`) and the kernel's identity.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Os {
    let mut os = Os::default();
    match root
        .read("/etc/os-release")
        .or_else(|_| root.read("/usr/lib/os-release"))
    {
        Ok(text) => {
            for (key, value) in parse_os_release(&text) {
                let slot = match key {
                    "NAME" => &mut os.name,
                    "PRETTY_NAME" => &mut os.pretty_name,
                    "ID" => &mut os.id,
                    "VERSION" => &mut os.version,
                    "VERSION_ID" => &mut os.version_id,
                    "VERSION_CODENAME" => &mut os.codename,
                    "ID_LIKE" => {
                        os.id_like = value.split_whitespace().map(str::to_owned).collect();
                        continue;
                    }
                    _ => continue,
                };
                *slot = (!value.is_empty()).then_some(value);
            }
        }
        Err(err) => gaps.io(SOURCE, "distribution", "/etc/os-release", &err),
    }
    os.kernel_name = root.value("/proc/sys/kernel/ostype");
    os.kernel_release = root.value("/proc/sys/kernel/osrelease");
    os.kernel_version = root.value("/proc/sys/kernel/version");
    if os.kernel_release.is_none() {
        gaps.note(SOURCE, "kernel", "/proc/sys/kernel/osrelease: not readable");
    }
    os.arch = root.value("/proc/sys/kernel/arch").or_else(|| {
        root.is_live().then(|| {
            rustix::system::uname()
                .machine()
                .to_string_lossy()
                .into_owned()
        })
    });
    os
}

/// `KEY=value` pairs of an os-release file, with shell quoting removed.
pub fn parse_os_release(text: &str) -> impl Iterator<Item = (&str, String)> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.starts_with('#') {
            return None;
        }
        let (key, raw) = line.split_once('=')?;
        Some((key.trim(), unquote(raw.trim())))
    })
}

/// Removes one level of shell quotes and backslash escapes, as os-release(5) allows.
fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut quote = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (_, '\\') => out.extend(chars.next()),
            (_, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_quotes_and_escapes() {
        let text = "NAME=\"Rocky Linux\"\nID=rocky\nID_LIKE=\"rhel centos fedora\"\n# c\nPRETTY_NAME='Rocky Linux 9.4 (Blue Onyx)'\nX=\"a \\\"q\\\" b\"\n";
        let pairs: Vec<_> = parse_os_release(text).collect();
        assert_eq!(pairs[0], ("NAME", "Rocky Linux".to_owned()));
        assert_eq!(pairs[2], ("ID_LIKE", "rhel centos fedora".to_owned()));
        assert_eq!(
            pairs[3],
            ("PRETTY_NAME", "Rocky Linux 9.4 (Blue Onyx)".to_owned())
        );
        assert_eq!(pairs[4], ("X", "a \"q\" b".to_owned()));
    }

    #[test]
    fn live_host_has_a_kernel_and_an_arch() {
        let mut gaps = Gaps::default();
        let os = collect(&Root::live(), &mut gaps);
        assert_eq!(os.kernel_name.as_deref(), Some("Linux"));
        assert_eq!(os.arch.as_deref(), Some(std::env::consts::ARCH));
        assert!(os.id.is_some(), "{gaps:?}");
    }
}
