//! Diagnostic results on the incident timeline: the line the person who
//! asked writes there when the agent's answer is stored.

use atalaya_common::format;

use crate::records::diagnostic::DiagnosticRecord;

/// Lines of output quoted on the timeline at most; the whole output stays
/// in the request (`atalaya diagnostic ID`, `GET /api/v1/diagnostics/{id}`).
const QUOTED_LINES: usize = 20;

/// The timeline text of a request's result, e.g. `diagnostic d-4 asked by
/// ana: disk-usage /srv — completed in 35 ms (1.2 KiB)` and the start of
/// its output.
pub fn timeline_text(rec: &DiagnosticRecord) -> String {
    let order = &rec.order;
    let mut text = format!(
        "diagnostic {} asked by {}: {}",
        order.id, order.requested_by, order.action
    );
    let Some(result) = &rec.result else {
        return text;
    };
    text.push_str(&format!(
        " — {} in {} ms ({}{})",
        result.outcome.name(),
        result.duration_ms,
        format::bytes(result.output.len() as u64),
        if result.truncated { ", cut" } else { "" }
    ));
    if let Some(reason) = result.outcome.reason() {
        text.push_str(&format!(": {reason}"));
    }
    let lines: Vec<&str> = result.output.lines().collect();
    for line in lines.iter().take(QUOTED_LINES) {
        text.push('\n');
        text.push_str(line);
    }
    if lines.len() > QUOTED_LINES {
        text.push_str(&format!(
            "\n… {} more lines (atalaya diagnostic {})",
            lines.len() - QUOTED_LINES,
            order.id
        ));
    }
    text
}
