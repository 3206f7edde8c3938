//! The paper trays of a network printer (Printer-MIB `prtInputTable`):
//! what each holds and how much is left, so an empty tray shows.
//!
//! A poller reads them and sends the whole list as a
//! [`PrinterTrays`](crate::proto::PrinterTrays) record, apart from the
//! device's inventory so that older agents and collectors, which know
//! nothing of trays, keep exchanging inventories unchanged.

use serde::{Deserialize, Serialize};

use super::{PrinterSupply, SupplyAmount};

/// One input tray of a printer, as one row of its `prtInputTable`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaperTray {
    /// `hrDeviceIndex` of the printer.
    pub device_index: u32,
    /// `prtInputIndex`.
    pub index: u32,
    /// `prtInputName`, e.g. `Tray 2`; empty when the printer gives none.
    pub name: String,
    /// `prtInputDescription`, the printer's own words for the tray.
    pub descr: String,
    /// `prtInputType` code: 3 sheet feed auto-removable, 4 non-removable,
    /// 5 manual, 6 continuous roll, 7 continuous fan-fold…
    pub tray_type: u32,
    /// `prtInputMediaName`, e.g. `iso-a4-white`.
    pub media: String,
    /// `prtInputCurrentLevel`, in the tray's unit (sheets, usually).
    pub level: SupplyAmount,
    /// `prtInputMaxCapacity`.
    pub max_capacity: SupplyAmount,
    /// Level as a percent of the capacity, when both are known quantities.
    pub percent: Option<u8>,
    /// `prtInputStatus`, the Printer-MIB `PrtSubUnitStatusTC` bits
    /// (0 available and idle; bit 0 set: unavailable…).
    pub status: u32,
}

impl PaperTray {
    /// The tray for people: its name, else its description, else `tray N`.
    pub fn label(&self) -> String {
        if !self.name.is_empty() {
            self.name.clone()
        } else if !self.descr.is_empty() {
            self.descr.clone()
        } else {
            format!("tray {}", self.index)
        }
    }

    /// Whether the printer says the tray holds no paper: level zero with a
    /// known capacity (a tray without restriction or of unknown level is
    /// not called empty).
    pub fn is_empty(&self) -> bool {
        self.level == SupplyAmount::Units(0)
    }

    /// Sets [`percent`](Self::percent) from the level and capacity.
    pub fn fill_percent(&mut self) {
        self.percent = PrinterSupply::compute_percent(self.level, self.max_capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_needs_both_quantities() {
        let mut t = PaperTray {
            level: SupplyAmount::Units(125),
            max_capacity: SupplyAmount::Units(500),
            ..PaperTray::default()
        };
        t.fill_percent();
        assert_eq!(t.percent, Some(25));
        t.level = SupplyAmount::SomeRemaining;
        t.fill_percent();
        assert_eq!(t.percent, None);
        assert!(!t.is_empty());
        t.level = SupplyAmount::Units(0);
        assert!(t.is_empty());
    }

    #[test]
    fn label_falls_back_to_description_then_index() {
        let mut t = PaperTray {
            index: 3,
            ..PaperTray::default()
        };
        assert_eq!(t.label(), "tray 3");
        t.descr = "Lower cassette".into();
        assert_eq!(t.label(), "Lower cassette");
        t.name = "Tray 3".into();
        assert_eq!(t.label(), "Tray 3");
    }
}
