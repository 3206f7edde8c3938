//! Incoming calls: who is calling, resolved from the people directory,
//! and a hub that hands every call to whoever listens (the API's event
//! stream, the web console) as it rings.

use std::sync::Arc;

use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;

use super::lookup::caller_by_number;
use crate::lookup::Lookup;
use crate::people::caller_text;
use crate::people::phone::PhonePlan;
use crate::store::{AgentRecord, Store, StoreError};

/// Calls a listener may fall behind by before it misses some.
const HUB_CAPACITY: usize = 256;

/// Machines a call's card shows, at most.
pub const CALL_MACHINES: usize = 10;

/// What the help desk sees when the phone rings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallerCard {
    /// The caller in a line: the person's name, department, location and
    /// extension; how many people match; or `no one matches +34…`.
    pub text: String,
    /// The people whose phone number or extension the call comes from,
    /// and their machines with health now and open incidents.
    #[serde(flatten)]
    pub lookup: Lookup,
}

/// A call ringing at an extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallEvent {
    /// When the collector heard of it.
    pub at: Timestamp,
    /// The caller's number, as the phone system gave it.
    pub from: String,
    /// The extension it rings at (`None`: not said, e.g. a queue).
    pub extension: Option<String>,
    /// Who is calling.
    pub card: CallerCard,
}

/// The hub calls are published on: every subscriber gets every call
/// published after it subscribed. Cheap to clone (one channel shared).
#[derive(Debug, Clone)]
pub struct Calls {
    sender: broadcast::Sender<Arc<CallEvent>>,
    phones: PhonePlan,
}

impl Default for Calls {
    fn default() -> Self {
        Self::new(PhonePlan::default())
    }
}

impl Calls {
    /// A hub whose calls and lookups complete national numbers by `phones`.
    pub fn new(phones: PhonePlan) -> Self {
        let (sender, _) = broadcast::channel(HUB_CAPACITY);
        Calls { sender, phones }
    }

    /// How national phone numbers are completed (the `[people]` section).
    pub fn phones(&self) -> &PhonePlan {
        &self.phones
    }

    /// Every call published from now on. A subscriber that falls more
    /// than a few hundred calls behind misses the oldest
    /// ([`broadcast::error::RecvError::Lagged`]).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CallEvent>> {
        self.sender.subscribe()
    }

    /// Hands `call` to every subscriber; how many there were.
    pub fn publish(&self, call: CallEvent) -> usize {
        self.sender.send(Arc::new(call)).unwrap_or(0)
    }
}

/// The call from `from` ringing at `extension` at `now`, its caller
/// resolved through the directory (see [`caller_by_number`]).
pub fn resolve(
    store: &Store,
    phones: &PhonePlan,
    from: &str,
    extension: Option<String>,
    now: Timestamp,
    status: &dyn Fn(&AgentRecord) -> &'static str,
) -> Result<CallEvent, StoreError> {
    let lookup = caller_by_number(store, from, phones, CALL_MACHINES, now, status)?;
    Ok(CallEvent {
        at: now,
        from: from.trim().to_owned(),
        extension,
        card: CallerCard {
            text: caller_text(from, &lookup.people),
            lookup,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::people::import;
    use crate::store::testutil::temp_store;

    fn unknown(_: &AgentRecord) -> &'static str {
        "unknown"
    }

    #[test]
    fn a_call_is_resolved_by_number_and_heard_by_every_subscriber() {
        let (_d, s) = temp_store();
        let plan = PhonePlan::with_country_code("34");
        let file = "name,logins,email,phones,extension,department,location\n\
            María García,maria,maria@corp.example,+34 600 000 000,2041,IT,Madrid\n";
        import(&s, file.as_bytes(), &plan, false, Timestamp(1)).unwrap();
        let hub = Calls::new(plan.clone());
        let mut a = hub.subscribe();
        let mut b = hub.subscribe();

        let call = resolve(
            &s,
            hub.phones(),
            "0034 600-000-000",
            Some("2041".into()),
            Timestamp(5),
            &unknown,
        )
        .unwrap();
        assert_eq!(call.card.text, "María García, IT, Madrid, ext. 2041");
        assert_eq!(call.card.lookup.people[0].why, ["phone +34 600 000 000"]);
        assert_eq!(hub.publish(call.clone()), 2);
        assert_eq!(*a.try_recv().unwrap(), call);
        assert_eq!(*b.try_recv().unwrap(), call);

        // An internal call gives the extension; a hidden number finds no one.
        let call = resolve(&s, &plan, "2041", None, Timestamp(6), &unknown).unwrap();
        assert_eq!(call.card.lookup.people.len(), 1);
        assert_eq!(call.card.lookup.people[0].why, ["extension 2041"]);
        let call = resolve(&s, &plan, "anonymous", None, Timestamp(6), &unknown).unwrap();
        assert_eq!(call.card.text, "no one matches anonymous");
        assert!(call.card.lookup.people.is_empty() && call.card.lookup.machines.is_empty());
        // The card's JSON has the lookup's fields beside its text.
        let json = serde_json::to_value(&call).unwrap();
        assert_eq!(json["card"]["text"], "no one matches anonymous");
        assert_eq!(json["card"]["total"], 0);
    }
}
