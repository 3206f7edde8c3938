//! Bindings and values written the short way, for the SNMP tests.

use async_snmp::{Oid, Value, VarBind};

/// A binding of `value` to the OID `arcs`.
pub(crate) fn vb(arcs: &[u32], value: Value) -> VarBind {
    VarBind::new(Oid::from_slice(arcs), value)
}

/// The arcs of column `col` of table entry `entry`, row `index`.
pub(crate) fn at(entry: &[u32], col: u32, index: &[u32]) -> Vec<u32> {
    [entry, &[col], index].concat()
}

/// An OCTET STRING of `text`.
pub(crate) fn s(text: &str) -> Value {
    b(text.as_bytes())
}

/// An OCTET STRING of `bytes`.
pub(crate) fn b(bytes: &[u8]) -> Value {
    Value::OctetString(bytes.to_vec().into())
}
