//! Keeping a fast path's own match table in step with the flow table.
//!
//! The AF_XDP data plane's XDP program redirects only packets to local ports it has in
//! its BPF map; everything else goes to the kernel and the sockets path. [`FlowWriter`]
//! is the registry's handle on the flow table: every entry it writes is steered, every
//! entry it removes is unsteered, so no code that programs the table can forget the map.
//! The map may briefly hold a port the table does not (the data plane then hands the
//! packet to the control plane), never the reverse for long: steering errors are logged
//! and the port stays on the kernel path, which still relays it.

use std::net::SocketAddr;
use std::ops::Deref;

use shared_tables::{
    EntryId, FlowAction, FlowCounters, FlowCrypto, FlowKey, TableError, TableWriter,
};

/// A fast path that must know which local ports have flow-table entries.
pub trait FlowSteering: Send {
    /// Packets to `local` now have an entry: send them to the fast path.
    fn steer(&self, local: SocketAddr);
    /// `local`'s entry is gone: its packets go to the kernel again.
    fn unsteer(&self, local: SocketAddr);
    /// The fast path's counters, for `statistics` (name, value).
    fn counters(&self) -> Vec<(&'static str, u64)>;
}

/// The flow table's writer, plus the fast path to tell about entries. Reads go straight
/// to the [`TableWriter`] (`Deref`); writes go through the methods here.
pub struct FlowWriter {
    table: TableWriter,
    steering: Option<Box<dyn FlowSteering>>,
}

impl FlowWriter {
    pub fn new(table: TableWriter) -> FlowWriter {
        FlowWriter {
            table,
            steering: None,
        }
    }

    /// From now on tells `steering` about every entry written or removed, starting with
    /// those already in the table (adopted from a previous daemon).
    pub fn set_steering(&mut self, steering: Box<dyn FlowSteering>) {
        for (key, _, _) in self.table.entries() {
            steering.steer(key.local());
        }
        self.steering = Some(steering);
    }

    /// The fast path's counters, if there is one.
    pub fn steering_counters(&self) -> Option<Vec<(&'static str, u64)>> {
        self.steering.as_ref().map(|s| s.counters())
    }

    pub fn upsert(&mut self, key: FlowKey, action: &FlowAction) -> Result<EntryId, TableError> {
        let id = self.table.upsert(key, action)?;
        self.steer(&key);
        Ok(id)
    }

    pub fn upsert_with_crypto(
        &mut self,
        key: FlowKey,
        action: &FlowAction,
        crypto: &FlowCrypto,
    ) -> Result<EntryId, TableError> {
        let id = self.table.upsert_with_crypto(key, action, crypto)?;
        self.steer(&key);
        Ok(id)
    }

    pub fn remove(&mut self, key: &FlowKey) -> Option<FlowCounters> {
        let counters = self.table.remove(key)?;
        if let Some(s) = &self.steering {
            s.unsteer(key.local());
        }
        Some(counters)
    }

    fn steer(&self, key: &FlowKey) {
        if let Some(s) = &self.steering {
            s.steer(key.local());
        }
    }
}

impl Deref for FlowWriter {
    type Target = TableWriter;

    fn deref(&self) -> &TableWriter {
        &self.table
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use shared_tables::{FlowTable, SrcMismatch};

    use super::*;

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    impl FlowSteering for Log {
        fn steer(&self, local: SocketAddr) {
            self.0.lock().unwrap().push(format!("+{local}"));
        }
        fn unsteer(&self, local: SocketAddr) {
            self.0.lock().unwrap().push(format!("-{local}"));
        }
        fn counters(&self) -> Vec<(&'static str, u64)> {
            vec![("steered", self.0.lock().unwrap().len() as u64)]
        }
    }

    fn action() -> FlowAction {
        FlowAction {
            dst: "192.0.2.2:5004".parse().unwrap(),
            src: "192.0.2.1:30002".parse().unwrap(),
            expected_src: None,
            src_mismatch: SrcMismatch::Forward,
            tos: 0,
            flags: 0,
            stream_id: 0,
        }
    }

    #[test]
    fn writes_and_removals_are_steered_existing_entries_first() {
        let t = FlowTable::create(16).unwrap();
        let mut w = FlowWriter::new(t.writer().unwrap());
        let (a, b): (SocketAddr, SocketAddr) = (
            "192.0.2.1:30000".parse().unwrap(),
            "192.0.2.1:30002".parse().unwrap(),
        );
        w.upsert(FlowKey::new(a), &action()).unwrap();
        let log = Log::default();
        w.set_steering(Box::new(log.clone()));
        w.upsert(FlowKey::new(b), &action()).unwrap();
        assert!(w.remove(&FlowKey::new(a)).is_some());
        assert!(w.remove(&FlowKey::new(a)).is_none(), "already gone");
        assert_eq!(
            *log.0.lock().unwrap(),
            [format!("+{a}"), format!("+{b}"), format!("-{a}")]
        );
        assert_eq!(w.get(&FlowKey::new(b)).map(|(_, act)| act), Some(action()));
        assert_eq!(w.steering_counters(), Some(vec![("steered", 3)]));
    }
}
