//! A `tracing` layer that keeps what it sees, for tests of what tether logs
//! ([`TraceRecorder`]).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// A span or event: its name (an event's is its message) and fields, as text.
pub type Entry = (String, BTreeMap<String, String>);

/// A `tracing` layer that keeps every span (with the fields recorded later) and event.
#[derive(Debug, Clone, Default)]
pub struct TraceRecorder {
    spans: Arc<Mutex<BTreeMap<u64, Entry>>>,
    events: Arc<Mutex<Vec<Entry>>>,
}

impl TraceRecorder {
    /// Forgets what was recorded.
    pub fn clear(&self) {
        lock(&self.spans).clear();
        lock(&self.events).clear();
    }

    /// The fields of every span named `name`.
    pub fn spans(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        lock(&self.spans)
            .values()
            .filter(|(n, _)| n == name)
            .map(|(_, fields)| fields.clone())
            .collect()
    }

    /// The fields of every event whose message is `message`.
    pub fn events(&self, message: &str) -> Vec<BTreeMap<String, String>> {
        lock(&self.events)
            .iter()
            .filter(|(m, _)| m == message)
            .map(|(_, fields)| fields.clone())
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber> Layer<S> for TraceRecorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let name = attrs.metadata().name().to_owned();
        lock(&self.spans).insert(id.into_u64(), (name, fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = lock(&self.spans).get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        lock(&self.events).push((message, fields));
    }
}
