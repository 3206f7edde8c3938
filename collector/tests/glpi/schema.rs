//! GLPI's published inventory schema as a validator, for the tests that
//! check Atalaya's GLPI export. One file shared (by `#[path]`) between the
//! collector's unit tests, its API tests and the workspace tests.

#![allow(dead_code, clippy::unwrap_used)] // each includer uses part of it

use serde_json::Value;

/// The schema file, byte for byte as GLPI publishes it (see `README.md`).
pub const SCHEMA_JSON: &str = include_str!("inventory.schema.json");

/// Where GLPI's schema breaks draft-07: this `format` is a list
/// (`["ipv4", "ipv6"]`) where a format name belongs.
const ILL_FORMED: &str = "/properties/content/properties/network_device/properties/ips/items";

/// A validator of GLPI's schema, formats (`ipv4`, `ipv6`) checked.
///
/// A strict validator refuses to compile the published schema because of
/// one keyword ([`ILL_FORMED`]'s `format`). It belongs to the SNMP network
/// device section, which a Computer inventory never has, so it is dropped
/// here, in memory; the meta-schema check after that proves it was the
/// schema's only flaw.
pub fn validator() -> jsonschema::Validator {
    let mut schema: Value = serde_json::from_str(SCHEMA_JSON).unwrap();
    assert!(
        jsonschema::meta::validate(&schema).is_err(),
        "GLPI's schema is well-formed now: drop the workaround in tests/glpi/schema.rs"
    );
    let items = schema.pointer_mut(ILL_FORMED).unwrap();
    let dropped = items.as_object_mut().unwrap().remove("format");
    assert_eq!(dropped, Some(serde_json::json!(["ipv4", "ipv6"])));
    jsonschema::meta::validate(&schema).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

/// Every way `doc` breaks GLPI's schema, each with where it is.
pub fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}
