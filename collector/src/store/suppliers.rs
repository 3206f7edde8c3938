//! Suppliers, contracts and warranties in the store. Persistence only:
//! matching them to the inventory and judging them live above
//! (`suppliers`).

use redb::{ReadableDatabase, ReadableTable};

use super::schema::{CONTRACTS, META, META_NEXT_CONTRACT, SUPPLIERS, WARRANTIES};
use super::{Store, StoreError, dec, enc, next_id};
use crate::records::supplier::{Contract, ContractId, Supplier, Warranty, supplier_key};

/// Everything kept of suppliers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SupplierBook {
    /// Suppliers, by lower-case name.
    pub suppliers: Vec<Supplier>,
    /// Contracts, by number.
    pub contracts: Vec<Contract>,
    /// Warranties entered per asset, by asset id.
    pub warranties: Vec<Warranty>,
}

/// What one write changes: each record replaces the one of the same key
/// (supplier name, contract id, warranty asset); a contract with id 0 is
/// new and gets the next number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SupplierChanges {
    /// Suppliers to write.
    pub suppliers: Vec<Supplier>,
    /// Contracts to write.
    pub contracts: Vec<Contract>,
    /// Warranties to write.
    pub warranties: Vec<Warranty>,
    /// Suppliers to remove, by name.
    pub remove_suppliers: Vec<String>,
    /// Contracts to remove.
    pub remove_contracts: Vec<ContractId>,
    /// Warranties to remove, by asset id.
    pub remove_warranties: Vec<String>,
}

impl Store {
    /// Every supplier, contract and warranty.
    pub fn supplier_book(&self) -> Result<SupplierBook, StoreError> {
        let txn = self.db.begin_read()?;
        let mut book = SupplierBook::default();
        for r in txn.open_table(SUPPLIERS)?.iter()? {
            book.suppliers.push(dec("suppliers", r?.1.value())?);
        }
        for r in txn.open_table(CONTRACTS)?.iter()? {
            book.contracts.push(dec("contracts", r?.1.value())?);
        }
        for r in txn.open_table(WARRANTIES)?.iter()? {
            book.warranties.push(dec("warranties", r?.1.value())?);
        }
        Ok(book)
    }

    /// Writes `changes` in one transaction, removals first; returns the
    /// numbers of the contracts written, in their order.
    pub fn change_suppliers(
        &self,
        changes: &SupplierChanges,
    ) -> Result<Vec<ContractId>, StoreError> {
        let txn = self.db.begin_write()?;
        let mut ids = Vec::with_capacity(changes.contracts.len());
        {
            let mut suppliers = txn.open_table(SUPPLIERS)?;
            let mut contracts = txn.open_table(CONTRACTS)?;
            let mut warranties = txn.open_table(WARRANTIES)?;
            let mut meta = txn.open_table(META)?;
            for name in &changes.remove_suppliers {
                suppliers.remove(supplier_key(name).as_str())?;
            }
            for id in &changes.remove_contracts {
                contracts.remove(*id)?;
            }
            for asset in &changes.remove_warranties {
                warranties.remove(asset.as_str())?;
            }
            for s in &changes.suppliers {
                suppliers.insert(
                    supplier_key(&s.name).as_str(),
                    enc("suppliers", s)?.as_slice(),
                )?;
            }
            for c in &changes.contracts {
                let mut c = c.clone();
                if c.id == 0 {
                    c.id = next_id(&mut meta, META_NEXT_CONTRACT)?;
                }
                contracts.insert(c.id, enc("contracts", &c)?.as_slice())?;
                ids.push(c.id);
            }
            for w in &changes.warranties {
                warranties.insert(w.asset_id.as_str(), enc("warranties", w)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::temp_store;
    use super::*;
    use crate::helpers::day::Day;
    use crate::records::supplier::{ContractKind, ServiceLevels, SupplierKind};

    fn supplier(name: &str, phone: Option<&str>) -> Supplier {
        Supplier {
            name: name.into(),
            kind: SupplierKind::Reseller,
            phone: phone.map(str::to_owned),
            email: None,
            portal: None,
            account: None,
            aliases: Vec::new(),
            notes: None,
        }
    }

    fn contract(id: ContractId, number: &str) -> Contract {
        Contract {
            id,
            supplier: "Acme".into(),
            kind: ContractKind::Support,
            number: number.into(),
            start: Day::parse("2026-01-01").unwrap(),
            end: Day::parse("2027-01-01").unwrap(),
            notice_days: 30,
            cost: Some(10.5),
            levels: ServiceLevels::default(),
            covers: Vec::new(),
            seats: None,
            notes: None,
        }
    }

    #[test]
    fn records_are_replaced_by_key_numbered_and_removed() {
        let (_dir, store) = temp_store();
        let ids = store
            .change_suppliers(&SupplierChanges {
                suppliers: vec![supplier("Acme", None)],
                contracts: vec![contract(0, "A-1"), contract(0, "A-2")],
                warranties: vec![Warranty {
                    asset_id: "asset-1".into(),
                    supplier: "Acme".into(),
                    start: None,
                    end: Day::parse("2028-01-01").unwrap(),
                    notes: None,
                }],
                ..SupplierChanges::default()
            })
            .unwrap();
        assert_eq!(ids, [1, 2], "new contracts are numbered in order");
        // The same name in another case replaces the supplier; a contract
        // with its number replaces it; removals go first.
        let ids = store
            .change_suppliers(&SupplierChanges {
                suppliers: vec![supplier(" ACME ", Some("+34 1"))],
                contracts: vec![contract(2, "A-2 renewed"), contract(0, "A-3")],
                remove_contracts: vec![1],
                remove_warranties: vec!["asset-1".into()],
                ..SupplierChanges::default()
            })
            .unwrap();
        assert_eq!(ids, [2, 3]);
        let book = store.supplier_book().unwrap();
        assert_eq!(book.suppliers.len(), 1);
        assert_eq!(book.suppliers[0].phone.as_deref(), Some("+34 1"));
        let numbers: Vec<(ContractId, &str)> = book
            .contracts
            .iter()
            .map(|c| (c.id, c.number.as_str()))
            .collect();
        assert_eq!(numbers, [(2, "A-2 renewed"), (3, "A-3")]);
        assert!(book.warranties.is_empty());
        store
            .change_suppliers(&SupplierChanges {
                remove_suppliers: vec!["acme".into()],
                ..SupplierChanges::default()
            })
            .unwrap();
        assert!(store.supplier_book().unwrap().suppliers.is_empty());
    }
}
