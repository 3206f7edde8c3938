//! Batteries from `/sys/class/power_supply`.
//!
//! Drivers report capacity either as energy (`energy_*`, µWh) or as charge
//! (`charge_*`, µAh); charge is turned into energy with the design voltage
//! so that every battery compares in the same unit and wear is
//! `full / design`. Batteries of peripherals (`scope` = `Device`, e.g. a
//! wireless mouse) are not the machine's and are left out.

use atalaya_common::model::Battery;

use crate::root::{Gaps, Root};

use super::dmi::meaningful;

const DIR: &str = "/sys/class/power_supply";

/// Reads the system batteries; a machine without one has none.
pub fn collect(root: &Root, _gaps: &mut Gaps) -> Vec<Battery> {
    let Ok(names) = root.list(DIR) else {
        return Vec::new();
    };
    let mut batteries = Vec::new();
    for name in names {
        let dir = format!("{DIR}/{name}");
        let value = |file: &str| root.value(format!("{dir}/{file}"));
        if value("type").as_deref() != Some("Battery")
            || value("scope").as_deref() == Some("Device")
        {
            continue;
        }
        let number = |file: &str| root.number(format!("{dir}/{file}"));
        let text = |file: &str| value(file).and_then(|t| meaningful(&t));
        let volts_uv = number("voltage_min_design");
        let energy = |energy: &str, charge: &str| {
            number(energy).or_else(|| uah_to_uwh(number(charge)?, volts_uv?))
        };
        batteries.push(Battery {
            manufacturer: text("manufacturer"),
            model: text("model_name"),
            serial: text("serial_number"),
            technology: text("technology"),
            status: value("status"),
            capacity_percent: number("capacity").and_then(|c| u8::try_from(c).ok()),
            design_capacity_uwh: energy("energy_full_design", "charge_full_design"),
            full_capacity_uwh: energy("energy_full", "charge_full"),
            cycle_count: number("cycle_count").and_then(|c| u32::try_from(c).ok()),
            name,
        });
    }
    batteries
}

/// µAh × µV / 10⁶ = µWh.
pub fn uah_to_uwh(charge_uah: u64, voltage_uv: u64) -> Option<u64> {
    let uwh = u128::from(charge_uah) * u128::from(voltage_uv) / 1_000_000;
    u64::try_from(uwh).ok().filter(|v| *v > 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn charge_converts_to_energy() {
        // 5000 mAh at 11.4 V is 57 Wh.
        assert_eq!(uah_to_uwh(5_000_000, 11_400_000), Some(57_000_000));
        assert_eq!(uah_to_uwh(5_000_000, 0), None);
        assert!(uah_to_uwh(u64::MAX, u64::MAX).is_none());
    }

    #[test]
    fn charge_reporting_batteries_get_energy_and_peripherals_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let path = dir.path().join("sys/class/power_supply").join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("BAT1/type", "Battery\n");
        write("BAT1/charge_full_design", "4000000\n");
        write("BAT1/charge_full", "3000000\n");
        write("BAT1/voltage_min_design", "7600000\n");
        write("BAT1/technology", "Unknown\n");
        write("hid-mouse/type", "Battery\n");
        write("hid-mouse/scope", "Device\n");
        write("AC/type", "Mains\n");
        let mut gaps = Gaps::default();
        let bats = collect(&Root::new(dir.path()), &mut gaps);
        assert_eq!(bats.len(), 1);
        assert_eq!(bats[0].name, "BAT1");
        assert_eq!(bats[0].design_capacity_uwh, Some(30_400_000));
        assert_eq!(bats[0].full_capacity_uwh, Some(22_800_000));
        assert_eq!(bats[0].technology, None);
    }
}
