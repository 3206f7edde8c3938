//! Any datagram a device may send: the poller's decoding returns an answer
//! or a typed error, never a panic, and whatever decodes goes through every
//! reader the poller applies to received bindings.
#![no_main]

use atalaya_agent::snmp::response::decode_response;
use atalaya_agent::snmp::{counters, inventory};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(answer) = decode_response(data) else {
        return;
    };
    let _ = inventory::build(&answer.bindings);
    let _ = counters::build(0, &answer.bindings);
    let _ = counters::oper_up(&answer.bindings);
});
