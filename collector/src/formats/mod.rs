//! What the collector knows of a host, written in other inventory systems'
//! formats, so an organisation can feed them from Atalaya's agents. Pure:
//! fed an inventory and the facts of its asset, each returns a document;
//! reading the store and answering HTTP are the API's business.
//!
//! # Layout
//! - [`glpi`]: GLPI's native inventory format (the JSON its agents POST to
//!   `/front/inventory.php`).

pub mod glpi;
