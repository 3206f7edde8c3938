//! Suppliers, their contracts and the warranty of each asset, as stored.
//!
//! A supplier is known by its name (case-insensitive) and the other names
//! the inventory gives it (`Dell Inc.`, `Dell`); a contract by its number
//! with its supplier. What a contract covers is said by serial, model,
//! tag or package pattern, and matched against the inventory when a
//! report is made, so an asset bought later is covered without an edit.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::helpers::day::Day;

/// A contract's number in the store.
pub type ContractId = u64;

/// What a supplier is to the organisation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum SupplierKind {
    /// Makes hardware (Dell, HP, Cisco).
    HardwareMaker,
    /// Publishes software (Microsoft, Red Hat).
    SoftwarePublisher,
    /// Sells what others make.
    Reseller,
    /// Gives a service (support, maintenance, connectivity).
    ServiceProvider,
}

impl SupplierKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [SupplierKind; 4] = [
        SupplierKind::HardwareMaker,
        SupplierKind::SoftwarePublisher,
        SupplierKind::Reseller,
        SupplierKind::ServiceProvider,
    ];

    /// The name in files, tables and the API.
    pub fn name(self) -> &'static str {
        match self {
            SupplierKind::HardwareMaker => "hardware-maker",
            SupplierKind::SoftwarePublisher => "software-publisher",
            SupplierKind::Reseller => "reseller",
            SupplierKind::ServiceProvider => "service-provider",
        }
    }

    /// The kind named `name` (any case).
    pub fn from_name(name: &str) -> Option<SupplierKind> {
        let name = name.trim().to_ascii_lowercase().replace(' ', "-");
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The key of a supplier's name: trimmed, in lower case.
pub fn supplier_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// A supplier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Supplier {
    /// Its name, as people write it; the key (case-insensitive).
    pub name: String,
    /// What it is.
    pub kind: SupplierKind,
    /// Support phone.
    pub phone: Option<String>,
    /// Support e-mail.
    pub email: Option<String>,
    /// Support portal address.
    pub portal: Option<String>,
    /// The organisation's account number with it.
    pub account: Option<String>,
    /// Other names the inventory gives it (a DMI manufacturer, a package
    /// vendor, an SNMP device's maker), besides those its name already
    /// matches.
    pub aliases: Vec<String>,
    /// Free text.
    pub notes: Option<String>,
}

/// What kind of agreement a contract is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ContractKind {
    /// Support: someone to call.
    Support,
    /// A warranty of the hardware it covers.
    Warranty,
    /// Leased equipment, to give back at the end.
    Lease,
    /// Software licences: seats for a package pattern.
    Licence,
    /// Maintenance of equipment or a service.
    Maintenance,
}

impl ContractKind {
    /// Every kind.
    pub const ALL: [ContractKind; 5] = [
        ContractKind::Support,
        ContractKind::Warranty,
        ContractKind::Lease,
        ContractKind::Licence,
        ContractKind::Maintenance,
    ];

    /// The name in files, tables and the API.
    pub fn name(self) -> &'static str {
        match self {
            ContractKind::Support => "support",
            ContractKind::Warranty => "warranty",
            ContractKind::Lease => "lease",
            ContractKind::Licence => "licence",
            ContractKind::Maintenance => "maintenance",
        }
    }

    /// The kind named `name` (any case; `license` too).
    pub fn from_name(name: &str) -> Option<ContractKind> {
        let name = name.trim().to_ascii_lowercase();
        let name = if name == "license" { "licence" } else { &name };
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// What the supplier promises under a contract.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceLevels {
    /// Hours until the supplier answers a case.
    pub response_hours: Option<f64>,
    /// Hours until the supplier resolves a case.
    pub resolution_hours: Option<f64>,
    /// When the clock runs, as the contract says it (`24x7`, `8x5 Mon-Fri`).
    pub hours: Option<String>,
}

/// What a contract covers: any asset or package that matches one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Coverage {
    /// The asset whose system serial is this (case-insensitive).
    Serial(String),
    /// Assets whose model (system product, or a device's model) is this
    /// (case-insensitive; `*` globs).
    Model(String),
    /// Assets with this tag.
    Tag(String),
    /// Installed packages whose name matches this pattern (`*` globs,
    /// case-insensitive).
    Software(String),
}

/// A contract with a supplier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Contract {
    /// Its number in the store.
    #[schema(value_type = u64)]
    pub id: ContractId,
    /// The supplier's name.
    pub supplier: String,
    /// What kind.
    pub kind: ContractKind,
    /// Its number with the supplier; with the supplier, its key in imports.
    pub number: String,
    /// First day in force.
    pub start: Day,
    /// Last day in force.
    pub end: Day,
    /// Days before `end` the renewal is to be decided.
    pub notice_days: u32,
    /// What it costs, in the organisation's currency.
    pub cost: Option<f64>,
    /// What the supplier promises.
    pub levels: ServiceLevels,
    /// What it covers.
    pub covers: Vec<Coverage>,
    /// Seats of a licence contract.
    pub seats: Option<u32>,
    /// Free text.
    pub notes: Option<String>,
}

impl Contract {
    /// The day the renewal notice falls on.
    pub fn notice_on(&self) -> Day {
        self.end.minus_days(self.notice_days)
    }
}

/// A warranty entered or imported for one asset, apart from contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Warranty {
    /// The asset.
    pub asset_id: String,
    /// Who gives it.
    pub supplier: String,
    /// First day, when known.
    pub start: Option<Day>,
    /// Last day covered.
    pub end: Day,
    /// Free text (the supplier's reference, the kind of service).
    pub notes: Option<String>,
}
