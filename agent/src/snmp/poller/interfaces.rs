//! The interfaces a device's tracker keeps from one inventory walk to the
//! next, packed.
//!
//! Between polls a tracker needs each interface's name (to label its
//! series) and rated speed (to bound its rates), and, to map neighbours'
//! local ports, its description, alias and MAC address too. Kept as
//! [`DeviceInterface`] values beside a map of names, that is five strings
//! per interface, about 12 KiB for a 48-port switch and 12 MiB for a
//! poller of a thousand; here a device's texts share one string and each
//! interface is a row of numbers, about 5 KiB.

use atalaya_common::model::DeviceInterface;

/// A row's texts, in this order, one after the other in [`KnownInterfaces::text`].
const NAME: usize = 0;
const DESCR: usize = 1;
const ALIAS: usize = 2;
const MAC: usize = 3;
const TEXTS: usize = 4;

/// The interfaces of a device's last inventory walk.
#[derive(Debug, Default)]
pub(super) struct KnownInterfaces {
    /// Sorted by `ifIndex`, one per index.
    rows: Box<[Row]>,
    /// Every row's texts.
    text: Box<str>,
}

/// One interface.
#[derive(Debug)]
struct Row {
    if_index: u32,
    /// Where each text starts in [`KnownInterfaces::text`]; it ends where
    /// the next starts, the last at `end`.
    starts: [u32; TEXTS],
    end: u32,
    /// The speed its rates are checked against.
    rated_speed: Option<u64>,
}

impl KnownInterfaces {
    /// Keeps `interfaces`, with `rated_speed` of each. Of two with the same
    /// `ifIndex` the last is kept.
    pub(super) fn new(
        interfaces: &[DeviceInterface],
        rated_speed: impl Fn(&DeviceInterface) -> Option<u64>,
    ) -> Self {
        let mut order: Vec<&DeviceInterface> = interfaces.iter().collect();
        // Stable: the last of equal indexes stays last, and wins below.
        order.sort_by_key(|i| i.if_index);
        let mut rows: Vec<Row> = Vec::with_capacity(order.len());
        let mut text = String::new();
        for i in order {
            let mac = i.mac.as_deref().unwrap_or_default();
            let texts: [&str; TEXTS] = [&i.name, &i.descr, &i.alias, mac];
            let mut starts = [0; TEXTS];
            for (start, t) in starts.iter_mut().zip(texts) {
                *start = offset(&text);
                text.push_str(t);
            }
            let row = Row {
                if_index: i.if_index,
                starts,
                end: offset(&text),
                rated_speed: rated_speed(i),
            };
            match rows.last_mut() {
                Some(last) if last.if_index == i.if_index => *last = row,
                _ => rows.push(row),
            }
        }
        KnownInterfaces {
            rows: rows.into_boxed_slice(),
            text: text.into_boxed_str(),
        }
    }

    /// True when no inventory was walked yet (or it had no interfaces).
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The `ifName` of the interface `if_index`.
    pub(super) fn name(&self, if_index: u32) -> Option<&str> {
        self.row(if_index).map(|r| self.text_of(r, NAME))
    }

    /// The speed the rates of the interface `if_index` are checked against.
    pub(super) fn rated_speed(&self, if_index: u32) -> Option<u64> {
        self.row(if_index).and_then(|r| r.rated_speed)
    }

    /// The interfaces as neighbour mapping reads them: index, name,
    /// description, alias and MAC address (the other fields, which
    /// [`super::NeighbourTables::neighbours`] does not read, are left at
    /// their defaults).
    pub(super) fn for_neighbours(&self) -> Vec<DeviceInterface> {
        self.rows
            .iter()
            .map(|r| {
                let mac = self.text_of(r, MAC);
                DeviceInterface {
                    if_index: r.if_index,
                    name: self.text_of(r, NAME).to_owned(),
                    descr: self.text_of(r, DESCR).to_owned(),
                    alias: self.text_of(r, ALIAS).to_owned(),
                    mac: (!mac.is_empty()).then(|| mac.to_owned()),
                    ..DeviceInterface::default()
                }
            })
            .collect()
    }

    fn row(&self, if_index: u32) -> Option<&Row> {
        self.rows
            .binary_search_by_key(&if_index, |r| r.if_index)
            .ok()
            .map(|at| &self.rows[at])
    }

    fn text_of(&self, row: &Row, which: usize) -> &str {
        let start = row.starts[which];
        let end = row.starts.get(which + 1).copied().unwrap_or(row.end);
        // Offsets were taken at text boundaries as the string was built.
        self.text
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }
}

/// The current end of `text` as an offset. Past 4 GiB of interface texts
/// (which no walk's row limit allows) the offsets stop moving, and the
/// texts after read as empty rather than fail the poll.
fn offset(text: &str) -> u32 {
    u32::try_from(text.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(if_index: u32, name: &str, mac: Option<&str>) -> DeviceInterface {
        DeviceInterface {
            if_index,
            name: name.into(),
            descr: format!("{name} description"),
            alias: format!("alias of {name}"),
            if_type: 6,
            mac: mac.map(str::to_owned),
            speed_bps: Some(u64::from(if_index) * 1000),
            admin_up: true,
            ..DeviceInterface::default()
        }
    }

    #[test]
    fn every_text_an_interface_is_mapped_by_comes_back() {
        let given = vec![
            iface(3, "Gi1/0/3", Some("02:00:00:00:00:03")),
            iface(1, "Gi1/0/1", None),
            iface(2, "", Some("02:00:00:00:00:02")),
            iface(2, "Gi1/0/2", Some("02:00:00:00:00:02")),
        ];
        let known = KnownInterfaces::new(&given, |i| i.speed_bps);
        assert!(!known.is_empty());
        assert_eq!(known.name(1), Some("Gi1/0/1"));
        assert_eq!(known.name(2), Some("Gi1/0/2"), "the last of an index wins");
        assert_eq!(known.name(4), None);
        assert_eq!(known.rated_speed(3), Some(3000));
        assert_eq!(known.rated_speed(4), None);
        let back = known.for_neighbours();
        let expected: Vec<DeviceInterface> = [&given[1], &given[3], &given[0]]
            .into_iter()
            .map(|i| DeviceInterface {
                if_index: i.if_index,
                name: i.name.clone(),
                descr: i.descr.clone(),
                alias: i.alias.clone(),
                mac: i.mac.clone(),
                ..DeviceInterface::default()
            })
            .collect();
        assert_eq!(back, expected);
    }

    #[test]
    fn no_interfaces_is_empty() {
        let known = KnownInterfaces::new(&[], |i| i.speed_bps);
        assert!(known.is_empty());
        assert!(KnownInterfaces::default().is_empty());
        assert_eq!(known.name(1), None);
        assert!(known.for_neighbours().is_empty());
    }
}
