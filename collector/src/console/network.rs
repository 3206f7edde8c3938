//! The network page: devices and their state, the busiest interfaces, and
//! the map of who is cabled to whom (from LLDP and CDP) drawn as SVG on
//! the server.

use std::collections::BTreeMap;
use std::f64::consts::PI;

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::{DeviceState, OperStatus};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use maud::{Markup, html};

use super::auth::Person;
use super::layout::{self, Section};
use super::{ConsoleState, PageResult, blocking};
use crate::api::devices::{
    InterfaceRow, InterfaceSort, interface_rows, sort_interfaces, stored_view,
};
use crate::topology::{NodeKind, Topology};

/// Interfaces shown, busiest first.
const MAX_INTERFACES: usize = 50;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new().route("/network", get(page))
}

async fn page(State(state): State<ConsoleState>, me: Person) -> PageResult<Markup> {
    let (devices, mut rows, map) = blocking(&state, |s| {
        let now = Timestamp::now();
        let mut devices = Vec::new();
        let mut rows = Vec::new();
        for rec in s.devices()? {
            devices.push(stored_view(s, &rec)?);
            if s.device_primary(&rec.asset_id)?
                .is_some_and(|p| p != rec.name)
            {
                continue;
            }
            let inv = s.device_inventory(&rec.asset_id)?;
            rows.extend(interface_rows(s, &rec, inv.as_ref(), now)?);
        }
        Ok((devices, rows, crate::desk::topology::read(s)?))
    })
    .await?;
    sort_interfaces(&mut rows, InterfaceSort::Utilisation);
    let body = html! {
        h2 { "Devices (" (devices.len()) ")" }
        table #devices data-refresh="60" {
            thead { tr {
                th { "Device" } th { "State" } th { "Address" } th { "Vendor and model" } th { "sysName" }
                th.num { "Interfaces up / down" } th { "Last poll" } th { "Poller" }
            } }
            tbody {
                @for d in &devices {
                    tr {
                        td { a href={ "/assets/" (layout::query_value(&d.asset_id)) } { (d.name) } }
                        td { (layout::badge(match d.state {
                            DeviceState::Ok => "ok",
                            DeviceState::Unpolled => "muted",
                            _ => "bad",
                        }, &d.state_text)) }
                        td { (d.address) ":" (d.port) }
                        td { (d.vendor.clone().unwrap_or_default()) " " (d.model.clone().unwrap_or_default()) }
                        td { (d.sys_name.clone().unwrap_or_default()) }
                        td.num { (d.interfaces_up) " / " (d.interfaces_down) }
                        td { (layout::when(d.last_poll_at)) }
                        td { (d.poller) }
                    }
                }
            }
        }
        @if devices.is_empty() {
            p.muted { "No network device yet: add one with " code { "atalaya device add" } " or a devices file." }
        }
        h2 { "Busiest interfaces" }
        (interfaces(&rows))
        h2 { "Topology" }
        (topology_svg(&map))
    };
    Ok(layout::page(&me, Section::Network, "Network", body))
}

fn rate(bps: Option<f64>) -> String {
    match bps {
        None => String::new(),
        Some(v) if v >= 1e9 => format!("{:.1} Gbit/s", v / 1e9),
        Some(v) if v >= 1e6 => format!("{:.1} Mbit/s", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.1} kbit/s", v / 1e3),
        Some(v) => format!("{v:.0} bit/s"),
    }
}

fn interfaces(rows: &[InterfaceRow]) -> Markup {
    let pct = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.1}"));
    html! {
        table #interfaces {
            thead { tr {
                th { "Device" } th { "Interface" } th { "Status" } th.num { "Speed" } th.num { "In" } th.num { "Out" }
                th.num { "In %" } th.num { "Out %" } th.num { "Errors/s" } th { "Neighbour" }
            } }
            tbody {
                @for r in rows.iter().take(MAX_INTERFACES) {
                    tr {
                        td { (r.device) }
                        td { (r.name) @if !r.alias.is_empty() { " · " (r.alias) } }
                        td { (layout::badge(match (r.admin_up, r.oper_status) {
                            (false, _) => "muted",
                            (true, OperStatus::Up) => "ok",
                            (true, _) => "bad",
                        }, if r.admin_up { oper_name(r.oper_status) } else { "admin down" })) }
                        td.num { (rate(r.speed_bps.map(|s| s as f64))) }
                        td.num { (rate(r.in_bps)) }
                        td.num { (rate(r.out_bps)) }
                        td.num { (pct(r.in_utilisation_percent)) }
                        td.num { (pct(r.out_utilisation_percent)) }
                        td.num { @if let Some(e) = r.errors_per_second { (format!("{e:.2}")) } }
                        td { (r.neighbour.clone().unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

fn oper_name(s: OperStatus) -> &'static str {
    match s {
        OperStatus::Up => "up",
        OperStatus::Down => "down",
        _ => "not up",
    }
}

/// Width and height of the map, in SVG units.
const SIZE: f64 = 640.0;

/// The map: nodes on a circle (devices first, then hosts, then the
/// unknown), a line per link. Node positions depend only on the sorted
/// node list, so the same network draws the same map.
pub fn topology_svg(map: &Topology) -> Markup {
    if map.nodes.is_empty() {
        return html! { p.muted { "No neighbours known yet: devices report them over LLDP or CDP." } };
    }
    let mut nodes: Vec<_> = map.nodes.iter().collect();
    let rank = |k: NodeKind| match k {
        NodeKind::Device => 0,
        NodeKind::Host => 1,
        NodeKind::Unknown => 2,
    };
    nodes.sort_by(|a, b| rank(a.kind).cmp(&rank(b.kind)).then(a.name.cmp(&b.name)));
    let n = nodes.len() as f64;
    let (cx, cy, r) = (SIZE / 2.0, SIZE / 2.0, SIZE / 2.0 - 80.0);
    let at: BTreeMap<&str, (f64, f64)> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let angle = 2.0 * PI * i as f64 / n - PI / 2.0;
            (
                node.id.as_str(),
                (cx + r * angle.cos(), cy + r * angle.sin()),
            )
        })
        .collect();
    html! {
        svg.chart.topology xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (SIZE) " " (SIZE) }
            width=(SIZE) height=(SIZE) role="img" data-nodes=(nodes.len()) data-links=(map.links.len()) {
            title { "Network map: " (nodes.len()) " nodes, " (map.links.len()) " links" }
            @for link in &map.links {
                @if let (Some(a), Some(b)) = (at.get(link.a.node.as_str()), at.get(link.b.node.as_str())) {
                    line.link x1=(fmt(a.0)) y1=(fmt(a.1)) x2=(fmt(b.0)) y2=(fmt(b.1)) {}
                }
            }
            @for node in &nodes {
                @let (x, y) = at[node.id.as_str()];
                g class={ "node " (match node.kind { NodeKind::Device => "device", NodeKind::Host => "host", NodeKind::Unknown => "unknown" }) } {
                    circle cx=(fmt(x)) cy=(fmt(y)) r="7" {}
                    text x=(fmt(x)) y=(fmt(y + 20.0)) text-anchor="middle" { (node.name) }
                }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Link, LinkEnd, Node};

    fn node(id: &str, kind: NodeKind) -> Node {
        Node {
            id: id.into(),
            kind,
            name: id.into(),
            asset_id: None,
            address: None,
            platform: None,
        }
    }

    #[test]
    fn the_map_has_a_circle_per_node_and_a_line_per_link() {
        let map = Topology {
            nodes: vec![
                node("sw1", NodeKind::Device),
                node("sw2", NodeKind::Device),
                node("<b>pc</b>", NodeKind::Host),
            ],
            links: vec![Link {
                a: LinkEnd {
                    node: "sw1".into(),
                    interface: None,
                },
                b: LinkEnd {
                    node: "sw2".into(),
                    interface: None,
                },
                protocols: Vec::new(),
                seen_from: Vec::new(),
            }],
        };
        let svg = topology_svg(&map).into_string();
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("<line").count(), 1);
        assert!(
            svg.contains("&lt;b&gt;pc&lt;/b&gt;"),
            "names are escaped: {svg}"
        );
        assert_eq!(
            svg,
            topology_svg(&map).into_string(),
            "the same map draws the same"
        );
    }

    #[test]
    fn an_empty_map_says_why() {
        let svg = topology_svg(&Topology::default()).into_string();
        assert!(svg.contains("No neighbours known yet"));
    }
}
