//! `atalaya topology`: the network map, as a table of links, JSON, or
//! Graphviz DOT (`atalaya topology --dot | dot -Tsvg > map.svg`).

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, pretty};
use crate::topology::{LinkEnd, Topology, to_dot};

/// `atalaya topology [--json | --csv | --dot]`.
pub fn run(client: &ApiClient, dot: bool, format: Format) -> Result<String, CliError> {
    let body = client.get("/api/v1/topology", &[])?;
    if format == Format::Json && !dot {
        return Ok(pretty(&body));
    }
    let map: Topology = decode(&body, "the topology")?;
    if dot {
        return Ok(to_dot(&map));
    }
    Ok(links_table(&map, format))
}

/// One row per link: both ends with their interfaces, how it was learnt
/// and who reported it.
fn links_table(map: &Topology, format: Format) -> String {
    let name = |e: &LinkEnd| {
        map.nodes
            .iter()
            .find(|n| n.id == e.node)
            .map_or_else(|| e.node.clone(), |n| n.name.clone())
    };
    let mut t = Table::new([
        "NODE",
        "INTERFACE",
        "NEIGHBOUR",
        "ITS INTERFACE",
        "BY",
        "SEEN FROM",
    ]);
    for l in &map.links {
        t.push([
            name(&l.a),
            l.a.interface.clone().unwrap_or_default(),
            name(&l.b),
            l.b.interface.clone().unwrap_or_default(),
            l.protocols
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            l.seen_from.join(", "),
        ]);
    }
    let mut out = t.output(format);
    if format == Format::Table && map.links.is_empty() {
        out.push_str("no link yet: devices report their neighbours over LLDP or CDP once polled\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::device::NeighbourProtocol;

    use super::*;
    use crate::topology::{Link, Node, NodeKind};

    #[test]
    fn links_are_listed_by_node_name_with_both_interfaces() {
        let node = |id: &str, name: &str, kind| Node {
            id: id.into(),
            kind,
            name: name.into(),
            asset_id: None,
            address: None,
            platform: None,
        };
        let map = Topology {
            nodes: vec![
                node("device:sw-a", "sw-a", NodeKind::Device),
                node("asset-7", "web01", NodeKind::Host),
            ],
            links: vec![Link {
                a: LinkEnd {
                    node: "device:sw-a".into(),
                    interface: Some("Gi1/0/3".into()),
                },
                b: LinkEnd {
                    node: "asset-7".into(),
                    interface: Some("eth0".into()),
                },
                protocols: vec![NeighbourProtocol::Lldp, NeighbourProtocol::Cdp],
                seen_from: vec!["sw-a".into()],
            }],
        };
        let text = links_table(&map, Format::Table);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NODE"), "{text}");
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            row,
            ["sw-a", "Gi1/0/3", "web01", "eth0", "lldp+cdp", "sw-a"]
        );
        let empty = links_table(&Topology::default(), Format::Table);
        assert!(empty.contains("no link yet"), "{empty}");
    }
}
