//! Wake-ups for the data sessions of one agent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Per agent, a counter its data sessions watch: bumped when something
/// the sessions send changed (one set of wakers per kind of news: the
/// device list, the status of the reports written on its machine), so
/// that each of its sessions reads and sends it again.
#[derive(Debug, Default, Clone)]
pub struct AgentWakers(Arc<Mutex<HashMap<String, watch::Sender<u64>>>>);

impl AgentWakers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What a session of `agent` watches.
    pub fn subscribe(&self, agent: &str) -> watch::Receiver<u64> {
        self.lock()
            .entry(agent.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Tells the sessions of `agent` that their news changed.
    pub fn wake(&self, agent: &str) {
        let mut map = self.lock();
        if let Some(tx) = map.get(agent) {
            if tx.receiver_count() == 0 {
                // Its sessions ended; the next one reads the news at start.
                map.remove(agent);
            } else {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }
}
