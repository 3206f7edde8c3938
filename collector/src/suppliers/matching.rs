//! Which supplier a name from the inventory stands for. Makers write
//! their names many ways (`Dell Inc.`, `DELL`, `Dell Technologies`), so
//! names are compared by their words: lower case, punctuation and a
//! company form at the end (`Inc`, `Ltd`, `GmbH`, `Corporation`…) left
//! out, and a supplier matches a name that starts with all its words
//! (`Dell` matches `Dell Technologies`, not `Dellwood`). A package's
//! maintainer in `Name <mail>` form is read by its name. The supplier's
//! aliases match the same way, so an administrator adds a name the
//! inventory uses (`HPE` for `Hewlett Packard Enterprise`).

use crate::records::supplier::Supplier;

/// Company forms left out at the end of a name.
const FORMS: [&str; 22] = [
    "inc",
    "incorporated",
    "ltd",
    "limited",
    "llc",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "sa",
    "sas",
    "srl",
    "sl",
    "bv",
    "nv",
    "plc",
    "pty",
    "spa",
    "kk",
    "ab",
];

/// The words of `name` that count: lower case, split at anything not a
/// letter or digit, an e-mail in `<…>` and company forms at the end left out.
pub fn words(name: &str) -> Vec<String> {
    let name = match name.find('<') {
        Some(i) => &name[..i],
        None => name,
    };
    let mut words: Vec<String> = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    while words.len() > 1 && words.last().is_some_and(|w| FORMS.contains(&w.as_str())) {
        words.pop();
    }
    words
}

/// The suppliers, ready to be matched against names.
#[derive(Debug, Clone, Default)]
pub struct Directory<'a> {
    /// The words of each name or alias, with its supplier; longest first,
    /// so that `Hewlett Packard Enterprise` wins over `Hewlett Packard`.
    names: Vec<(Vec<String>, &'a Supplier)>,
}

impl<'a> Directory<'a> {
    /// The directory of `suppliers`.
    pub fn new(suppliers: &'a [Supplier]) -> Self {
        let mut names: Vec<(Vec<String>, &Supplier)> = suppliers
            .iter()
            .flat_map(|s| {
                std::iter::once(&s.name)
                    .chain(&s.aliases)
                    .map(move |n| (words(n), s))
            })
            .filter(|(w, _)| !w.is_empty())
            .collect();
        names.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Directory { names }
    }

    /// The supplier `name` stands for, if any.
    pub fn find(&self, name: &str) -> Option<&'a Supplier> {
        let got = words(name);
        if got.is_empty() {
            return None;
        }
        self.names
            .iter()
            .find(|(w, _)| got.starts_with(w))
            .map(|(_, s)| *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::supplier::SupplierKind;

    fn supplier(name: &str, aliases: &[&str]) -> Supplier {
        Supplier {
            name: name.into(),
            kind: SupplierKind::HardwareMaker,
            phone: None,
            email: None,
            portal: None,
            account: None,
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            notes: None,
        }
    }

    #[test]
    fn makers_written_many_ways_are_one_supplier() {
        let all = [
            supplier("Dell", &[]),
            supplier("Hewlett Packard Enterprise", &["HPE"]),
            supplier("HP", &["Hewlett-Packard"]),
            supplier("Red Hat", &[]),
            supplier("Cisco Systems", &["ciscoSystems"]),
        ];
        let d = Directory::new(&all);
        let name = |n: &str| d.find(n).map(|s| s.name.as_str());
        assert_eq!(name("Dell Inc."), Some("Dell"));
        assert_eq!(name("DELL"), Some("Dell"));
        assert_eq!(name("Dell Technologies"), Some("Dell"));
        assert_eq!(name("Dellwood Ltd"), None);
        assert_eq!(
            name("Hewlett Packard Enterprise Company"),
            Some("Hewlett Packard Enterprise")
        );
        assert_eq!(name("HPE"), Some("Hewlett Packard Enterprise"));
        assert_eq!(name("Hewlett-Packard"), Some("HP"));
        assert_eq!(name("Red Hat, Inc."), Some("Red Hat"));
        assert_eq!(
            name("Red Hat Maintainers <rh@example.org>"),
            Some("Red Hat")
        );
        assert_eq!(name("ciscoSystems"), Some("Cisco Systems"));
        assert_eq!(name("Cisco Systems, Inc."), Some("Cisco Systems"));
        assert_eq!(name(""), None);
        assert_eq!(name("Inc."), None);
        // A company form alone is a name, not left out.
        assert_eq!(words("Co"), ["co"]);
    }
}
