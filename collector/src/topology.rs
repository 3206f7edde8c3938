//! The network map: devices, hosts and unknown neighbours as nodes, the
//! links between them as edges, built from the neighbours devices report
//! over LLDP and CDP. Pure: fed what the store holds, it decides which
//! neighbour is which asset and which two reports are one link.
//!
//! A neighbour is a device when its chassis id is a device's own LLDP
//! chassis id, when its chassis or port MAC is one of a device's interface
//! MACs, when its management address is the address a device is polled at,
//! or when its system name is a device's `sysName` or name (the first rule
//! that picks exactly one device wins). Otherwise it is a host when its
//! chassis or port MAC is among a host's hardware keys, or its system name
//! is a host name (in full, else its first label). Otherwise it is a node
//! of its own, named by its system name or chassis id.
//!
//! A link seen from both ends is one edge: two reports between the same
//! two nodes are paired when neither contradicts the other's interfaces.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use atalaya_common::model::device::{
    DeviceInterface, IdKind, Neighbour, NeighbourProtocol, PeerId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What the map needs of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFacts {
    /// Its name in Atalaya.
    pub name: String,
    /// Its asset id (`device:<name>`).
    pub asset_id: String,
    /// The address it is polled at.
    pub address: String,
    /// Its `sysName`.
    pub sys_name: String,
    /// Its own LLDP chassis id.
    pub chassis_id: Option<PeerId>,
    /// Its interfaces (names and MACs).
    pub interfaces: Vec<DeviceInterface>,
    /// The neighbours it reports now.
    pub neighbours: Vec<Neighbour>,
}

/// A host (an asset with an agent) a neighbour may be.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostFacts {
    /// Its asset id.
    pub asset_id: String,
    /// Its host name.
    pub hostname: String,
}

/// The hosts the store found for the keys [`wanted_keys`] asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostIndex {
    /// By lower-case MAC address.
    pub by_mac: BTreeMap<String, Vec<HostFacts>>,
    /// By lower-case name: hosts whose host name is it, or whose first
    /// label is it.
    pub by_name: BTreeMap<String, Vec<HostFacts>>,
}

/// The MACs and names (lower case) of the neighbours that are no device,
/// for the caller to look hosts up by.
pub fn wanted_keys(devices: &[DeviceFacts]) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut macs, mut names) = (BTreeSet::new(), BTreeSet::new());
    for d in devices {
        for n in &d.neighbours {
            if device_of(n, d, devices).is_some() {
                continue;
            }
            macs.extend(neighbour_macs(n));
            if !n.sys_name.is_empty() {
                let name = n.sys_name.to_lowercase();
                names.insert(first_label(&name).to_owned());
                names.insert(name);
            }
        }
    }
    (macs, names)
}

/// What a node is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A device Atalaya polls.
    Device,
    /// A host with an Atalaya agent.
    Host,
    /// A neighbour Atalaya knows nothing else of.
    Unknown,
}

/// One node of the map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Node {
    /// Its id in the map: the asset id of a device or host, else
    /// `neighbour:<chassis id>`.
    pub id: String,
    /// What it is.
    pub kind: NodeKind,
    /// Its name for people.
    pub name: String,
    /// Its asset, when it is one.
    pub asset_id: Option<String>,
    /// A management address its neighbours gave (unknown nodes).
    pub address: Option<String>,
    /// Its platform or system description, as its neighbours gave it (unknown nodes).
    pub platform: Option<String>,
}

/// One end of a link.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct LinkEnd {
    /// The node's id.
    pub node: String,
    /// The interface at this end, as the node names it or as its neighbour
    /// reports it; `None` when not known.
    pub interface: Option<String>,
}

/// One link between two nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Link {
    /// One end (a reporting device's).
    pub a: LinkEnd,
    /// The other end.
    pub b: LinkEnd,
    /// The protocols it was reported by.
    pub protocols: Vec<NeighbourProtocol>,
    /// The devices that report it: one, or both ends.
    pub seen_from: Vec<String>,
}

/// The network map.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Topology {
    /// Devices first, then hosts, then unknown neighbours, each by name.
    pub nodes: Vec<Node>,
    /// Links, by their first end.
    pub links: Vec<Link>,
}

/// One neighbour report, as an edge from the reporting device.
#[derive(Debug, Clone)]
struct Half {
    from: String,
    from_if: String,
    to: String,
    /// The interface at the far end when it is a device's interface.
    to_if: Option<String>,
    /// The far end's port as the neighbour reports it.
    to_port: String,
    protocols: BTreeSet<NeighbourProtocol>,
    reporter: String,
}

/// Builds the map of `devices`, matching neighbours to hosts with `hosts`.
pub fn build(devices: &[DeviceFacts], hosts: &HostIndex) -> Topology {
    let mut nodes: BTreeMap<String, Node> = devices
        .iter()
        .map(|d| {
            let node = Node {
                id: d.asset_id.clone(),
                kind: NodeKind::Device,
                name: d.name.clone(),
                asset_id: Some(d.asset_id.clone()),
                address: None,
                platform: None,
            };
            (d.asset_id.clone(), node)
        })
        .collect();
    let mut halves: Vec<Half> = Vec::new();
    for d in devices {
        for n in &d.neighbours {
            let (to, to_if) = match device_of(n, d, devices) {
                Some(r) => (r.asset_id.clone(), remote_interface(n, r)),
                None => (other_node(n, hosts, &mut nodes), None),
            };
            let from_if = n.local_name().to_owned();
            // LLDP and CDP reports of one link by one device are one half.
            if let Some(h) = halves
                .iter_mut()
                .find(|h| h.from == d.asset_id && h.from_if == from_if && h.to == to)
            {
                h.protocols.insert(n.protocol);
                continue;
            }
            halves.push(Half {
                from: d.asset_id.clone(),
                from_if,
                to,
                to_if,
                to_port: n.remote_port().to_owned(),
                protocols: [n.protocol].into(),
                reporter: d.name.clone(),
            });
        }
    }
    let mut links = pair(halves);
    links.sort_by(|x, y| (&x.a, &x.b).cmp(&(&y.a, &y.b)));
    let mut nodes: Vec<Node> = nodes.into_values().collect();
    nodes.sort_by(|x, y| (x.kind, &x.name, &x.id).cmp(&(y.kind, &y.name, &y.id)));
    Topology { nodes, links }
}

/// Pairs the halves of links seen from both ends into one link each.
fn pair(halves: Vec<Half>) -> Vec<Link> {
    let mut used = vec![false; halves.len()];
    let mut links = Vec::new();
    for i in 0..halves.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        let h = &halves[i];
        let back = (0..halves.len()).find(|&j| {
            let g = &halves[j];
            !used[j]
                && g.from == h.to
                && g.to == h.from
                && h.to_if.as_ref().is_none_or(|t| *t == g.from_if)
                && g.to_if.as_ref().is_none_or(|t| *t == h.from_if)
        });
        let link = match back {
            Some(j) => {
                used[j] = true;
                let g = &halves[j];
                let mut seen_from = vec![h.reporter.clone(), g.reporter.clone()];
                seen_from.sort();
                Link {
                    a: end(&h.from, Some(&h.from_if)),
                    b: end(&g.from, Some(&g.from_if)),
                    protocols: h.protocols.union(&g.protocols).copied().collect(),
                    seen_from,
                }
            }
            None => Link {
                a: end(&h.from, Some(&h.from_if)),
                b: end(&h.to, Some(h.to_if.as_ref().unwrap_or(&h.to_port))),
                protocols: h.protocols.iter().copied().collect(),
                seen_from: vec![h.reporter.clone()],
            },
        };
        links.push(link);
    }
    links
}

fn end(node: &str, interface: Option<&String>) -> LinkEnd {
    LinkEnd {
        node: node.to_owned(),
        interface: interface.filter(|i| !i.is_empty()).cloned(),
    }
}

/// The device (other than `from`) neighbour `n` is, by the first rule that
/// picks exactly one.
fn device_of<'d>(
    n: &Neighbour,
    from: &DeviceFacts,
    devices: &'d [DeviceFacts],
) -> Option<&'d DeviceFacts> {
    let others = || devices.iter().filter(|d| d.asset_id != from.asset_id);
    let macs = neighbour_macs(n);
    let name = n.sys_name.to_lowercase();
    let rules: [&dyn Fn(&DeviceFacts) -> bool; 5] = [
        &|d| {
            d.chassis_id
                .as_ref()
                .is_some_and(|c| same_id(c, &n.chassis_id))
        },
        &|d| {
            d.interfaces
                .iter()
                .any(|i| i.mac.as_ref().is_some_and(|m| macs.contains(m)))
        },
        &|d| {
            n.management_address
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(&d.address))
        },
        &|d| {
            !name.is_empty() && (name == d.sys_name.to_lowercase() || name == d.name.to_lowercase())
        },
        &|d| {
            !name.is_empty()
                && [d.sys_name.to_lowercase(), d.name.to_lowercase()]
                    .iter()
                    .any(|x| !x.is_empty() && first_label(x) == first_label(&name))
        },
    ];
    rules.iter().find_map(|rule| {
        let mut found = others().filter(|d| rule(d));
        let first = found.next()?;
        found.next().is_none().then_some(first)
    })
}

/// Whether two ids are the same, MACs compared whatever their case.
fn same_id(a: &PeerId, b: &PeerId) -> bool {
    !a.value.is_empty() && a.value.eq_ignore_ascii_case(&b.value)
}

/// The MACs a neighbour gave (its chassis and port ids, when MACs), lower case.
fn neighbour_macs(n: &Neighbour) -> BTreeSet<String> {
    [&n.chassis_id, &n.port_id]
        .into_iter()
        .filter(|id| id.kind == IdKind::MacAddress && !id.value.is_empty())
        .map(|id| id.value.to_lowercase())
        .collect()
}

fn first_label(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// The interface of device `r` that neighbour `n` reports as its port.
fn remote_interface(n: &Neighbour, r: &DeviceFacts) -> Option<String> {
    let only = |pred: &dyn Fn(&DeviceInterface) -> bool| {
        let mut found = r.interfaces.iter().filter(|i| pred(i));
        let first = found.next()?;
        found.next().is_none().then(|| first.name.clone())
    };
    let id = n.port_id.value.as_str();
    let by_id = match n.port_id.kind {
        IdKind::MacAddress => {
            only(&|i| i.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(id)))
        }
        k if k.is_a_name() => only(&|i| i.name == id)
            .or_else(|| only(&|i| i.descr == id))
            .or_else(|| only(&|i| i.alias == id)),
        _ => None,
    };
    let descr = n.port_descr.as_str();
    by_id.or_else(|| {
        (!descr.is_empty())
            .then(|| only(&|i| i.descr == descr).or_else(|| only(&|i| i.name == descr)))
            .flatten()
    })
}

/// The node of a neighbour that is no device: a host, or a node of its own.
fn other_node(n: &Neighbour, hosts: &HostIndex, nodes: &mut BTreeMap<String, Node>) -> String {
    let unique = |list: Option<&Vec<HostFacts>>| match list.map(Vec::as_slice) {
        Some([one]) => Some(one.clone()),
        _ => None,
    };
    let by_mac = || {
        let found: BTreeSet<HostFacts> = neighbour_macs(n)
            .iter()
            .filter_map(|m| hosts.by_mac.get(m))
            .flatten()
            .cloned()
            .collect();
        (found.len() == 1)
            .then(|| found.into_iter().next())
            .flatten()
    };
    let name = n.sys_name.to_lowercase();
    let host = by_mac().or_else(|| {
        (!name.is_empty())
            .then(|| {
                unique(hosts.by_name.get(&name))
                    .or_else(|| unique(hosts.by_name.get(first_label(&name))))
            })
            .flatten()
    });
    if let Some(h) = host {
        nodes.entry(h.asset_id.clone()).or_insert_with(|| Node {
            id: h.asset_id.clone(),
            kind: NodeKind::Host,
            name: h.hostname.clone(),
            asset_id: Some(h.asset_id.clone()),
            address: None,
            platform: None,
        });
        return h.asset_id;
    }
    let key = if n.chassis_id.value.is_empty() {
        &n.sys_name
    } else {
        &n.chassis_id.value
    };
    let id = format!("neighbour:{key}");
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let node = nodes.entry(id.clone()).or_insert_with(|| Node {
        id: id.clone(),
        kind: NodeKind::Unknown,
        name: n.remote_name().to_owned(),
        asset_id: None,
        address: None,
        platform: None,
    });
    if node.address.is_none() {
        node.address.clone_from(&n.management_address);
    }
    if node.platform.is_none() {
        node.platform = nonempty(&n.platform);
    }
    id
}

/// A string as a DOT quoted string: `"` and `\` escaped, line breaks as
/// `\n` (Graphviz's centred line break in labels).
pub fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The map in Graphviz DOT: devices as boxes, hosts as ellipses, unknown
/// neighbours dashed; each link an edge with its interface names at its ends.
pub fn to_dot(t: &Topology) -> String {
    let mut out = String::from(
        "graph atalaya {\n  graph [overlap=false, splines=true];\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    for n in &t.nodes {
        let style = match n.kind {
            NodeKind::Device => "shape=box",
            NodeKind::Host => "shape=ellipse",
            NodeKind::Unknown => "shape=ellipse, style=dashed",
        };
        let mut label = n.name.clone();
        if let Some(a) = &n.address {
            label.push('\n');
            label.push_str(a);
        }
        let _ = writeln!(
            out,
            "  {} [label={}, {style}];",
            dot_quote(&n.id),
            dot_quote(&label)
        );
    }
    for l in &t.links {
        let label = |e: &LinkEnd| dot_quote(e.interface.as_deref().unwrap_or(""));
        let _ = writeln!(
            out,
            "  {} -- {} [taillabel={}, headlabel={}];",
            dot_quote(&l.a.node),
            dot_quote(&l.b.node),
            label(&l.a),
            label(&l.b)
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(if_index: u32, name: &str, mac: &str) -> DeviceInterface {
        DeviceInterface {
            if_index,
            name: name.into(),
            descr: name.into(),
            mac: Some(mac.into()),
            ..DeviceInterface::default()
        }
    }

    fn mac_id(v: &str) -> PeerId {
        PeerId {
            kind: IdKind::MacAddress,
            value: v.into(),
        }
    }

    fn seen(local: &str, chassis: PeerId, port: PeerId, descr: &str, name: &str) -> Neighbour {
        Neighbour {
            local_if_name: Some(local.into()),
            local_port: local.into(),
            chassis_id: chassis,
            port_id: port,
            port_descr: descr.into(),
            sys_name: name.into(),
            ..Neighbour::default()
        }
    }

    fn device(
        name: &str,
        chassis: &str,
        ifs: Vec<DeviceInterface>,
        n: Vec<Neighbour>,
    ) -> DeviceFacts {
        DeviceFacts {
            name: name.into(),
            asset_id: format!("device:{name}"),
            address: format!("{name}.lan"),
            sys_name: name.into(),
            chassis_id: Some(mac_id(chassis)),
            interfaces: ifs,
            neighbours: n,
        }
    }

    /// Two switches that see each other (as lldpd does: MAC port ids with
    /// the interface name as description), one host and one unknown phone.
    fn lab() -> (Vec<DeviceFacts>, HostIndex) {
        let a = device(
            "sw-a",
            "76:25:27:37:d2:84",
            vec![
                iface(2, "tpa0", "76:25:27:37:d2:84"),
                iface(3, "eth9", "02:00:00:00:00:09"),
            ],
            vec![
                seen(
                    "tpa0",
                    mac_id("46:e5:e8:68:96:21"),
                    mac_id("46:e5:e8:68:96:21"),
                    "tpb0",
                    "sw-b",
                ),
                seen(
                    "eth9",
                    mac_id("52:54:00:6b:1e:21"),
                    mac_id("52:54:00:6b:1e:21"),
                    "eth0",
                    "web01.example.org",
                ),
                Neighbour {
                    protocol: NeighbourProtocol::Cdp,
                    management_address: Some("192.0.2.99".into()),
                    platform: "Cisco IP Phone 7962".into(),
                    ..seen(
                        "eth9",
                        PeerId {
                            kind: IdKind::Local,
                            value: "SEP001122334455".into(),
                        },
                        PeerId {
                            kind: IdKind::InterfaceName,
                            value: "Port 1".into(),
                        },
                        "",
                        "SEP001122334455",
                    )
                },
            ],
        );
        let b = device(
            "sw-b",
            "46:e5:e8:68:96:21",
            vec![iface(2, "tpb0", "46:e5:e8:68:96:21")],
            vec![seen(
                "tpb0",
                mac_id("76:25:27:37:d2:84"),
                PeerId {
                    kind: IdKind::InterfaceName,
                    value: "tpa0".into(),
                },
                "",
                "sw-a",
            )],
        );
        let web = HostFacts {
            asset_id: "asset-7".into(),
            hostname: "web01".into(),
        };
        let hosts = HostIndex {
            by_mac: [("52:54:00:6b:1e:21".to_owned(), vec![web.clone()])].into(),
            by_name: [("web01".to_owned(), vec![web])].into(),
        };
        (vec![a, b], hosts)
    }

    #[test]
    fn a_link_seen_from_both_ends_is_one_edge_with_both_interfaces() {
        let (devices, hosts) = lab();
        let t = build(&devices, &hosts);
        let between: Vec<&Link> = t
            .links
            .iter()
            .filter(|l| l.a.node.starts_with("device:") && l.b.node.starts_with("device:"))
            .collect();
        assert_eq!(between.len(), 1, "{t:#?}");
        let l = between[0];
        assert_eq!(
            (&l.a, &l.b),
            (
                &LinkEnd {
                    node: "device:sw-a".into(),
                    interface: Some("tpa0".into())
                },
                &LinkEnd {
                    node: "device:sw-b".into(),
                    interface: Some("tpb0".into())
                }
            )
        );
        assert_eq!(l.seen_from, ["sw-a", "sw-b"]);
        let kinds: Vec<(NodeKind, &str)> =
            t.nodes.iter().map(|n| (n.kind, n.name.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (NodeKind::Device, "sw-a"),
                (NodeKind::Device, "sw-b"),
                (NodeKind::Host, "web01"),
                (NodeKind::Unknown, "SEP001122334455"),
            ]
        );
        let phone = &t.nodes[3];
        assert_eq!(phone.address.as_deref(), Some("192.0.2.99"));
        let to_host = t.links.iter().find(|l| l.b.node == "asset-7").unwrap();
        assert_eq!(to_host.b.interface.as_deref(), Some("eth0"));
        assert_eq!(to_host.seen_from, ["sw-a"]);
    }

    #[test]
    fn wanted_keys_leave_out_neighbours_that_are_devices() {
        let (devices, _) = lab();
        let (macs, names) = wanted_keys(&devices);
        assert_eq!(macs, ["52:54:00:6b:1e:21".to_owned()].into());
        assert!(names.contains("web01") && names.contains("web01.example.org"));
        assert!(!names.contains("sw-b"));
    }

    #[test]
    fn a_host_found_by_two_names_is_no_match_and_stays_unknown() {
        let (devices, mut hosts) = lab();
        hosts.by_mac.clear();
        let twin = HostFacts {
            asset_id: "asset-8".into(),
            hostname: "web01".into(),
        };
        hosts.by_name.get_mut("web01").unwrap().push(twin);
        let t = build(&devices, &hosts);
        assert!(t.nodes.iter().all(|n| n.kind != NodeKind::Host), "{t:#?}");
        assert!(
            t.nodes
                .iter()
                .any(|n| n.id == "neighbour:52:54:00:6b:1e:21")
        );
    }

    #[test]
    fn dot_output_escapes_names_and_renders_each_link_once() {
        assert_eq!(dot_quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(dot_quote("two\r\nlines"), r#""two\nlines""#);
        let (devices, hosts) = lab();
        let dot = to_dot(&build(&devices, &hosts));
        assert!(dot.starts_with("graph atalaya {\n"), "{dot}");
        assert!(dot.ends_with("}\n"));
        assert_eq!(
            dot.matches(r#""device:sw-a" -- "device:sw-b" [taillabel="tpa0", headlabel="tpb0"];"#)
                .count(),
            1,
            "{dot}"
        );
        assert!(
            dot.contains(r#""asset-7" [label="web01", shape=ellipse];"#),
            "{dot}"
        );
        assert!(
            dot.contains(r#"[label="SEP001122334455\n192.0.2.99", shape=ellipse, style=dashed];"#),
            "{dot}"
        );
    }
}
