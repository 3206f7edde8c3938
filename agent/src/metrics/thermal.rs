//! Temperatures from hwmon sensors (`/sys/class/hwmon/hwmon*`), or from
//! the ACPI/platform thermal zones when no hwmon sensor reports one.
//!
//! Sensors are optional hardware: their absence is not a gap, and an input
//! that cannot be read (unconnected, `ENODATA`) is simply not reported.

use atalaya_common::model::Temperature;

use super::Reader;

/// Millidegrees Celsius as sysfs writes them (`45000`) → degrees.
pub fn parse_millidegrees(text: &str) -> Option<f64> {
    let milli: i64 = text.trim().parse().ok()?;
    Some(milli as f64 / 1000.0)
}

/// `temp3_input` → `temp3`.
fn input_name(file: &str) -> Option<&str> {
    let stem = file.strip_suffix("_input")?;
    let n = stem.strip_prefix("temp")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(stem)
}

/// A one-line sysfs value, trimmed, or `None`.
fn value(reader: &mut Reader, path: &str) -> Option<String> {
    let text = reader.read(path).ok()?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Every temperature sensor.
pub(crate) fn sample(reader: &mut Reader) -> Vec<Temperature> {
    let root = reader.root().clone();
    let mut out = Vec::new();
    for chip in root.list("/sys/class/hwmon").unwrap_or_default() {
        let dir = format!("/sys/class/hwmon/{chip}");
        let name = value(reader, &format!("{dir}/name")).unwrap_or_else(|| chip.clone());
        for file in root.list(&dir).unwrap_or_default() {
            let Some(input) = input_name(&file) else {
                continue;
            };
            let Some(celsius) = reader
                .read(&format!("{dir}/{file}"))
                .ok()
                .and_then(parse_millidegrees)
            else {
                continue;
            };
            out.push(Temperature {
                sensor: format!("{name}/{input}"),
                label: value(reader, &format!("{dir}/{input}_label")),
                celsius,
            });
        }
    }
    if !out.is_empty() {
        return out;
    }
    for zone in root.list("/sys/class/thermal").unwrap_or_default() {
        if !zone.starts_with("thermal_zone") {
            continue;
        }
        let dir = format!("/sys/class/thermal/{zone}");
        let Some(celsius) = reader
            .read(&format!("{dir}/temp"))
            .ok()
            .and_then(parse_millidegrees)
        else {
            continue;
        };
        let kind = value(reader, &format!("{dir}/type")).unwrap_or_else(|| zone.clone());
        out.push(Temperature {
            sensor: format!("{kind}/{zone}"),
            label: None,
            celsius,
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn millidegrees_and_input_names() {
        assert_eq!(parse_millidegrees("45500\n"), Some(45.5));
        assert_eq!(parse_millidegrees("-2000"), Some(-2.0));
        assert_eq!(parse_millidegrees("n/a"), None);
        assert_eq!(input_name("temp12_input"), Some("temp12"));
        assert_eq!(input_name("temp1_label"), None);
        assert_eq!(input_name("temp_input"), None);
        assert_eq!(input_name("in0_input"), None);
    }
}
