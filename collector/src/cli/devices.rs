//! `atalaya devices`, `atalaya device …`, `atalaya interfaces` and
//! `atalaya traps`: network devices listed, shown, added, changed and
//! removed, their interfaces, and the traps they sent.

use std::fmt::Write as _;

use atalaya_common::model::device::{PaperTray, SupplyAmount};
use serde_json::{Value, json};

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, opt, path_seg, pretty, render_pairs, seconds};
use crate::api::devices::{DeviceDetail, DeviceView, DiscoveryView, InterfaceRow};
use crate::records::device::DeviceEvent;

/// `atalaya device add`: a device and how to reach it.
#[derive(Debug, Clone, clap::Args)]
pub struct AddArgs {
    /// Host name or IP address of the device.
    pub address: String,
    /// The name to know it by (default: the address).
    #[arg(long)]
    pub name: Option<String>,
    /// The agent to poll it: agent id or host name (default: the only agent).
    #[arg(long)]
    pub poller: Option<String>,
    /// SNMP port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Seconds between polls.
    #[arg(long)]
    pub interval: Option<u32>,
    /// How to reach it over SNMP.
    #[command(flatten)]
    pub credentials: CredentialArgs,
}

/// `atalaya device set`: what to change (what is not given stays).
#[derive(Debug, Clone, clap::Args)]
pub struct SetArgs {
    /// Device name.
    pub name: String,
    /// Another poller: agent id or host name.
    #[arg(long)]
    pub poller: Option<String>,
    /// Another host name or IP address.
    #[arg(long)]
    pub address: Option<String>,
    /// Another SNMP port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Seconds between polls.
    #[arg(long)]
    pub interval: Option<u32>,
    /// New credentials, replacing the old ones whole (an SNMPv3 user's
    /// passwords are given again).
    #[command(flatten)]
    pub credentials: CredentialArgs,
}

/// SNMP credentials on the command line: a community, or an SNMPv3 user
/// with its passwords.
#[derive(Debug, Clone, clap::Args)]
pub struct CredentialArgs {
    /// SNMPv2c community (SNMPv1 with --v1).
    #[arg(long, conflicts_with = "user")]
    pub community: Option<String>,
    /// Use SNMPv1 with the community.
    #[arg(long, requires = "community")]
    pub v1: bool,
    /// SNMPv3 user.
    #[arg(long)]
    pub user: Option<String>,
    /// SNMPv3 authentication protocol: md5, sha, sha224, sha256, sha384, sha512.
    #[arg(long, requires = "auth_password", default_value = "sha")]
    pub auth_protocol: String,
    /// SNMPv3 authentication password (at least 8 characters).
    #[arg(long, requires = "user")]
    pub auth_password: Option<String>,
    /// SNMPv3 privacy protocol: des, aes, aes192, aes256.
    #[arg(long, default_value = "aes")]
    pub priv_protocol: String,
    /// SNMPv3 privacy password (at least 8 characters; needs --auth-password).
    #[arg(long, requires = "auth_password")]
    pub priv_password: Option<String>,
}

/// `atalaya device …` beyond showing one.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DeviceCommand {
    /// Add a device for an agent to poll (admin token).
    Add(Box<AddArgs>),
    /// Change a device in place (admin token): poller, address, port,
    /// interval or credentials; its history stays.
    Set(Box<SetArgs>),
    /// Stop polling a device (admin token); its history stays.
    Remove {
        /// Device name.
        name: String,
    },
}

fn auth_protocol(name: &str) -> Result<&'static str, String> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "md5" => "md5",
        "sha" | "sha1" => "sha1",
        "sha224" => "sha224",
        "sha256" => "sha256",
        "sha384" => "sha384",
        "sha512" => "sha512",
        other => return Err(format!("unknown authentication protocol `{other}`")),
    })
}

fn priv_protocol(name: &str) -> Result<&'static str, String> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "des" => "des",
        "aes" | "aes128" => "aes128",
        "aes192" => "aes192",
        "aes256" => "aes256",
        other => return Err(format!("unknown privacy protocol `{other}`")),
    })
}

impl CredentialArgs {
    /// The credentials as the API takes them; `None` when none are given.
    pub fn json(&self) -> Result<Option<Value>, String> {
        credentials_json(
            self.community.as_ref(),
            self.v1,
            self.user.as_ref(),
            &self.auth_protocol,
            self.auth_password.as_ref(),
            &self.priv_protocol,
            self.priv_password.as_ref(),
        )
    }
}

/// Credentials as given on the command line, as the API takes them;
/// `None` when none are given.
#[allow(clippy::too_many_arguments)]
fn credentials_json(
    community: Option<&String>,
    v1: bool,
    user: Option<&String>,
    auth_proto: &str,
    auth_password: Option<&String>,
    priv_proto: &str,
    priv_password: Option<&String>,
) -> Result<Option<Value>, String> {
    Ok(Some(match (community, user) {
        (Some(c), _) if v1 => json!({"v1": {"community": c}}),
        (Some(c), _) => json!({"v2c": {"community": c}}),
        (None, Some(user)) => {
            let auth = match auth_password {
                Some(p) => json!([auth_protocol(auth_proto)?, p]),
                None => Value::Null,
            };
            let privacy = match priv_password {
                Some(p) => json!([priv_protocol(priv_proto)?, p]),
                None => Value::Null,
            };
            json!({"v3": {"user": user, "auth": auth, "privacy": privacy}})
        }
        (None, None) => return Ok(None),
    }))
}

/// The JSON body of `PATCH /api/v1/devices/NAME` for `a`.
pub fn set_body(a: &SetArgs) -> Result<Value, String> {
    let credentials = a.credentials.json()?;
    let mut body = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            body.insert(k.to_owned(), v);
        }
    };
    put("poller", json!(a.poller));
    put("address", json!(a.address));
    put("port", json!(a.port));
    put("poll_interval_seconds", json!(a.interval));
    put("credentials", credentials.unwrap_or(Value::Null));
    if body.is_empty() {
        return Err(
            "nothing to change: give --poller, --address, --port, --interval or credentials".into(),
        );
    }
    Ok(Value::Object(body))
}

/// The JSON body of `POST /api/v1/devices` for `a`.
pub fn add_body(a: &AddArgs) -> Result<Value, String> {
    let credentials = a
        .credentials
        .json()?
        .ok_or("give --community (SNMPv1/v2c) or --user (SNMPv3)")?;
    Ok(json!({
        "address": a.address,
        "name": a.name,
        "poller": a.poller,
        "port": a.port,
        "poll_interval_seconds": a.interval,
        "credentials": credentials,
    }))
}

/// `atalaya devices`.
pub fn list(client: &ApiClient, format: Format) -> Result<String, CliError> {
    let body = client.get("/api/v1/devices", &[])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let devices: Vec<DeviceView> = decode(&body, "the devices")?;
    let mut t = Table::new([
        "NAME",
        "ADDRESS",
        "VERSION",
        "POLLER",
        "STATE",
        "LAST POLL",
        "SYSNAME",
        "VENDOR",
        "MODEL",
        "IF UP",
        "IF DOWN",
    ]);
    for d in &devices {
        let state = match &d.same_as {
            Some(other) => format!("{} (same device as {other})", d.state_text),
            None => d.state_text.clone(),
        };
        t.push([
            d.name.clone(),
            format!("{}:{}", d.address, d.port),
            d.version.clone(),
            d.poller.clone(),
            state,
            d.last_poll_at.map(seconds).unwrap_or_default(),
            opt(&d.sys_name),
            opt(&d.vendor),
            opt(&d.model),
            d.interfaces_up.to_string(),
            d.interfaces_down.to_string(),
        ]);
    }
    let mut out = t.output(format);
    if format == Format::Table && devices.is_empty() {
        out.push_str("no device yet; add one with `atalaya device add ADDRESS --community …`\n");
    } else if format == Format::Table {
        out.push_str(&totals(&devices));
    }
    Ok(out)
}

/// The totals line: a box polled by two entries counts once, with the
/// interfaces of the entry that writes its asset.
pub fn totals(devices: &[DeviceView]) -> String {
    let boxes: Vec<&DeviceView> = devices.iter().filter(|d| d.same_as.is_none()).collect();
    let up: usize = boxes.iter().map(|d| d.interfaces_up).sum();
    let down: usize = boxes.iter().map(|d| d.interfaces_down).sum();
    let merged = devices.len() - boxes.len();
    let entries = if merged > 0 {
        format!(
            " ({} entries; {merged} the same device as another)",
            devices.len()
        )
    } else {
        String::new()
    };
    format!(
        "{} devices{entries}; interfaces: {up} up, {down} down\n",
        boxes.len()
    )
}

/// `atalaya device NAME`.
pub fn show(client: &ApiClient, name: &str, format: Format) -> Result<String, CliError> {
    let body = client.get(&format!("/api/v1/devices/{}", path_seg(name)), &[])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let d: DeviceDetail = decode(&body, "the device")?;
    let v = &d.device;
    let mut pairs = vec![
        ("Device".into(), v.name.clone()),
        ("Address".into(), format!("{}:{}", v.address, v.port)),
        (
            "SNMP".into(),
            match &v.security {
                Some(s) => format!("{}, {s}", v.version),
                None => v.version.clone(),
            },
        ),
        ("Poller".into(), v.poller.clone()),
        ("State".into(), v.state_text.clone()),
        (
            "Last poll".into(),
            v.last_poll_at.map(seconds).unwrap_or_default(),
        ),
        ("Asset".into(), v.asset_id.clone()),
    ];
    if let Some(other) = &v.same_as {
        let why = v
            .same_as_evidence
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        pairs.push((
            "Same device as".into(),
            format!("{other}{why}: its values and inventory are {other}'s"),
        ));
    }
    if let Some(inv) = &d.inventory {
        pairs.push(("sysName".into(), inv.system.name.clone()));
        pairs.push(("Vendor".into(), opt(&inv.system.vendor)));
        pairs.push((
            "Description".into(),
            inv.system.descr.lines().next().unwrap_or("").to_owned(),
        ));
        pairs.push(("Location".into(), inv.system.location.clone()));
    }
    let mut out = render_pairs(&pairs);
    if !d.interfaces.is_empty() {
        out.push('\n');
        out.push_str(&interface_table(&d.interfaces, false).render());
    }
    // Neighbours on a port that maps to no interface have no row above.
    let unmapped: Vec<String> = d
        .neighbours
        .iter()
        .filter(|n| n.local_if_name.is_none())
        .map(|n| {
            format!(
                "  port {}: {} ({}) by {}",
                n.local_port,
                n.remote_name(),
                n.remote_port(),
                n.protocol.as_str()
            )
        })
        .collect();
    if !unmapped.is_empty() {
        let _ = writeln!(
            out,
            "\nNeighbours on ports matching no interface:\n{}",
            unmapped.join("\n")
        );
    }
    if !d.trays.is_empty() {
        out.push_str("\nPaper trays:\n");
        out.push_str(&tray_table(&d.trays).render());
    }
    if !d.events.is_empty() {
        let _ = writeln!(
            out,
            "\nLatest traps (`atalaya traps --device {}` for more):",
            v.name
        );
        out.push_str(&trap_table(&d.events, false).render());
    }
    if !d.changes.is_empty() {
        let _ = writeln!(
            out,
            "\n{} inventory and neighbour changes, the latest at {}",
            d.changes.len(),
            d.changes.last().map(|c| seconds(c.at)).unwrap_or_default()
        );
    }
    Ok(out)
}

/// `atalaya device add`, `atalaya device set` and `atalaya device remove`.
pub fn run(client: &ApiClient, cmd: DeviceCommand, format: Format) -> Result<String, CliError> {
    match cmd {
        DeviceCommand::Add(args) => {
            let body = add_body(&args).map_err(CliError::Usage)?;
            let answer = client.post("/api/v1/devices", Some(&body))?;
            if format == Format::Json {
                return Ok(pretty(&answer));
            }
            let v: DeviceView = decode(&answer, "the device added")?;
            Ok(format!(
                "added {} ({}:{}), polled by {} every {} s\n",
                v.name, v.address, v.port, v.poller, v.poll_interval_seconds
            ))
        }
        DeviceCommand::Set(args) => {
            let body = set_body(&args).map_err(CliError::Usage)?;
            let answer = client.patch(
                &format!("/api/v1/devices/{}", path_seg(&args.name)),
                Some(&body),
            )?;
            if format == Format::Json {
                return Ok(pretty(&answer));
            }
            let v: DeviceView = decode(&answer, "the device changed")?;
            Ok(format!(
                "changed {} ({}:{}), polled by {} every {} s\n",
                v.name, v.address, v.port, v.poller, v.poll_interval_seconds
            ))
        }
        DeviceCommand::Remove { name } => {
            client.delete(&format!("/api/v1/devices/{}", path_seg(&name)))?;
            Ok(format!("removed {name}\n"))
        }
    }
}

/// `atalaya-collector device discover`: where to look and what to try.
#[derive(Debug, Clone, clap::Args)]
pub struct DiscoverArgs {
    /// Address ranges, e.g. 192.0.2.0/24 (at most 4096 addresses in all).
    #[arg(required = true, value_name = "CIDR")]
    pub ranges: Vec<String>,
    /// The agent that sweeps: agent id or host name (default: the only agent).
    #[arg(long)]
    pub poller: Option<String>,
    /// A community to try (SNMPv2c; SNMPv1 with --v1); give several to try each.
    #[arg(long)]
    pub community: Vec<String>,
    /// Try the communities with SNMPv1.
    #[arg(long)]
    pub v1: bool,
    /// An SNMPv3 user to try (after the communities).
    #[arg(long)]
    pub user: Option<String>,
    /// SNMPv3 authentication protocol: md5, sha, sha224, sha256, sha384, sha512.
    #[arg(long, requires = "auth_password", default_value = "sha")]
    pub auth_protocol: String,
    /// SNMPv3 authentication password.
    #[arg(long, requires = "user")]
    pub auth_password: Option<String>,
    /// SNMPv3 privacy protocol: des, aes, aes192, aes256.
    #[arg(long, default_value = "aes")]
    pub priv_protocol: String,
    /// SNMPv3 privacy password (needs --auth-password).
    #[arg(long, requires = "auth_password")]
    pub priv_password: Option<String>,
    /// SNMP port asked on every address.
    #[arg(long)]
    pub port: Option<u16>,
    /// Milliseconds each request waits for its answer.
    #[arg(long)]
    pub timeout_ms: Option<u32>,
    /// Addresses asked at once.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Add the devices found that are not known yet.
    #[arg(long)]
    pub add: bool,
}

/// The JSON body of `POST /api/v1/devices/discover` for `a`.
pub fn discover_body(a: &DiscoverArgs) -> Result<Value, String> {
    let mut credentials: Vec<Value> = Vec::new();
    for c in &a.community {
        if let Some(v) = credentials_json(Some(c), a.v1, None, "", None, "", None)? {
            credentials.push(v);
        }
    }
    if let Some(v) = credentials_json(
        None,
        false,
        a.user.as_ref(),
        &a.auth_protocol,
        a.auth_password.as_ref(),
        &a.priv_protocol,
        a.priv_password.as_ref(),
    )? {
        credentials.push(v);
    }
    if credentials.is_empty() {
        return Err("give --community (one or more) or --user to try".into());
    }
    Ok(json!({
        "ranges": a.ranges,
        "poller": a.poller,
        "port": a.port,
        "credentials": credentials,
        "concurrency": a.concurrency,
        "timeout_ms": a.timeout_ms,
    }))
}

/// What a discovery found, as a table, with a line on how it went.
pub fn discovery_table(v: &DiscoveryView) -> String {
    let mut t = Table::new([
        "ADDRESS",
        "SYSNAME",
        "VENDOR",
        "MODEL",
        "CREDENTIAL",
        "KNOWN AS",
    ]);
    for f in &v.found {
        t.push([
            f.address.clone(),
            f.sys_name.clone(),
            opt(&f.vendor),
            f.model.clone(),
            f.credential_label.clone(),
            opt(&f.known_as),
        ]);
    }
    let mut out = if v.found.is_empty() {
        String::new()
    } else {
        t.render()
    };
    let how = match v.state.as_str() {
        "finished" => format!(
            "discovery {}: {} devices answered of {} addresses swept by {}",
            v.id,
            v.found.len(),
            v.addresses,
            v.poller
        ),
        "refused" => format!(
            "discovery {} refused: {}",
            v.id,
            v.reason.as_deref().unwrap_or("no reason given")
        ),
        _ => format!(
            "discovery {} still running on {}: {} found so far",
            v.id,
            v.poller,
            v.found.len()
        ),
    };
    out.push_str(&how);
    out.push('\n');
    out
}

fn rate(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_default()
}

fn percent(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (None, None) => String::new(),
        (a, b) => format!("{:.1}", a.unwrap_or(0.0).max(b.unwrap_or(0.0))),
    }
}

fn interface_table(rows: &[InterfaceRow], with_device: bool) -> Table {
    let mut headers = vec![
        "IF",
        "ALIAS",
        "SPEED",
        "ADMIN/OPER",
        "IN BPS",
        "OUT BPS",
        "UTIL %",
        "ERR/S",
        "DISC/S",
        "NEIGHBOUR",
    ];
    if with_device {
        headers.insert(0, "DEVICE");
    }
    let mut t = Table::new(headers);
    for r in rows {
        let mut row = vec![
            r.name.clone(),
            r.alias.clone(),
            opt(&r.speed_bps),
            format!(
                "{}/{}",
                if r.admin_up { "up" } else { "down" },
                serde_json::to_value(r.oper_status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            rate(r.in_bps),
            rate(r.out_bps),
            percent(r.in_utilisation_percent, r.out_utilisation_percent),
            r.errors_per_second
                .map(|v| format!("{v:.2}"))
                .unwrap_or_default(),
            r.discards_per_second
                .map(|v| format!("{v:.2}"))
                .unwrap_or_default(),
            r.neighbour.clone().unwrap_or_default(),
        ];
        if with_device {
            row.insert(0, r.device.clone());
        }
        t.push(row);
    }
    t
}

/// `atalaya interfaces`.
pub fn interfaces(
    client: &ApiClient,
    device: Option<String>,
    sort: Option<String>,
    format: Format,
) -> Result<String, CliError> {
    let body = client.get("/api/v1/interfaces", &[("device", device), ("sort", sort)])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let rows: Vec<InterfaceRow> = decode(&body, "the interfaces")?;
    Ok(interface_table(&rows, true).output(format))
}

/// What a trap said, in a few words: its kind or OID, and its interface.
fn trap_summary(e: &DeviceEvent) -> String {
    use atalaya_common::model::device::trap::TrapKind;
    let t = &e.trap;
    let mut out = match t.kind {
        TrapKind::Other => t.trap_oid.clone(),
        kind => kind.name().to_owned(),
    };
    if let Some(i) = &t.interface {
        let _ = write!(out, " {}", i.subject());
        if i.admin_up == Some(false) {
            out.push_str(" (shut)");
        }
    }
    if t.inform {
        out.push_str(" [inform]");
    }
    out
}

fn trap_table(events: &[DeviceEvent], with_device: bool) -> Table {
    let mut headers = vec!["RECEIVED", "TRAP", "VERSION", "SOURCE", "BINDINGS"];
    if with_device {
        headers.insert(1, "DEVICE");
    }
    let mut t = Table::new(headers);
    for e in events {
        let bindings = e
            .trap
            .varbinds
            .iter()
            .take(3)
            .map(|(oid, value)| format!("{oid}={}", value.lines().next().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(" ");
        let more = e.trap.varbinds.len().saturating_sub(3);
        let mut row = vec![
            seconds(e.trap.received_at),
            trap_summary(e),
            e.trap.version.name().to_owned(),
            e.trap.source.clone(),
            if more > 0 {
                format!("{bindings} (+{more})")
            } else {
                bindings
            },
        ];
        if with_device {
            row.insert(1, e.trap.device.clone());
        }
        t.push(row);
    }
    t
}

/// A tray level or capacity in words: sheets (the tray's unit), or what
/// the printer said instead.
fn amount(a: SupplyAmount) -> String {
    match a {
        SupplyAmount::Units(n) => n.to_string(),
        SupplyAmount::NoRestriction => "no limit".into(),
        SupplyAmount::Unknown => "unknown".into(),
        SupplyAmount::SomeRemaining => "some left".into(),
    }
}

fn tray_table(trays: &[PaperTray]) -> Table {
    let mut t = Table::new(vec!["TRAY", "MEDIA", "LEVEL", "CAPACITY", "PERCENT", ""]);
    for tray in trays {
        t.push(vec![
            tray.label(),
            tray.media.clone(),
            amount(tray.level),
            amount(tray.max_capacity),
            tray.percent.map(|p| format!("{p}%")).unwrap_or_default(),
            if tray.is_empty() {
                "EMPTY".into()
            } else {
                String::new()
            },
        ]);
    }
    t
}

/// `atalaya traps`.
pub fn traps(
    client: &ApiClient,
    device: Option<String>,
    limit: Option<usize>,
    format: Format,
) -> Result<String, CliError> {
    let limit = limit.map(|l| l.to_string());
    let body = client.get("/api/v1/traps", &[("device", device), ("limit", limit)])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let events: Vec<DeviceEvent> = decode(&body, "the traps")?;
    let mut out = trap_table(&events, true).output(format);
    if format == Format::Table && events.is_empty() {
        out.push_str("no trap received yet; a poller agent takes them with `[snmp] trap_listen`\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tray_table_shows_levels_in_words_and_marks_an_empty_tray() {
        let mut empty = PaperTray {
            index: 2,
            name: "Tray 2".into(),
            media: "iso-a4-white".into(),
            level: SupplyAmount::Units(0),
            max_capacity: SupplyAmount::Units(500),
            ..PaperTray::default()
        };
        empty.fill_percent();
        let bypass = PaperTray {
            index: 1,
            level: SupplyAmount::SomeRemaining,
            max_capacity: SupplyAmount::NoRestriction,
            ..PaperTray::default()
        };
        let text = tray_table(&[bypass, empty]).render();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("tray 1"), "{text}");
        assert!(lines[1].contains("some left") && lines[1].contains("no limit"));
        assert!(!lines[1].contains("EMPTY"));
        assert!(lines[2].contains("iso-a4-white") && lines[2].contains("500"));
        assert!(
            lines[2].contains("0%") && lines[2].ends_with("EMPTY"),
            "{text}"
        );
    }

    fn args(extra: &[&str]) -> AddArgs {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: AddArgs,
        }
        let mut argv = vec!["x", "192.0.2.10"];
        argv.extend_from_slice(extra);
        P::try_parse_from(argv).unwrap().a
    }

    #[test]
    fn add_bodies_carry_the_credentials_asked_for() {
        let b = add_body(&args(&["--community", "pub", "--v1"])).unwrap();
        assert_eq!(b["credentials"], json!({"v1": {"community": "pub"}}));
        let b = add_body(&args(&[
            "--user",
            "mon",
            "--auth-protocol",
            "sha256",
            "--auth-password",
            "aaaaaaaa",
            "--priv-protocol",
            "aes256",
            "--priv-password",
            "bbbbbbbb",
            "--name",
            "sw",
        ]))
        .unwrap();
        assert_eq!(
            b["credentials"],
            json!({"v3": {"user": "mon", "auth": ["sha256", "aaaaaaaa"], "privacy": ["aes256", "bbbbbbbb"]}})
        );
        assert_eq!(b["name"], "sw");
        assert!(add_body(&args(&[])).is_err());
        let bad = add_body(&args(&[
            "--user",
            "mon",
            "--auth-protocol",
            "sha3",
            "--auth-password",
            "aaaaaaaa",
        ]));
        assert!(bad.unwrap_err().contains("sha3"));
    }
}
