//! ng command dispatch: a decoded request dictionary in, a reply dictionary
//! out. Sans-IO; the io layer owns sockets, cookies and the clock.

use std::time::{Instant, SystemTime};

use crate::call::{CallError, CallRegistry};
use crate::ng::{self, Command, Dict, NgRequest, Value};

/// The names rtpengine counts ng requests under, in its order.
const COUNTED: [&str; 7] = [
    "ping",
    "offer",
    "answer",
    "delete",
    "query",
    "list",
    "statistics",
];

pub struct Control {
    pub registry: CallRegistry,
    counts: [u64; COUNTED.len()],
}

impl Control {
    pub fn new(registry: CallRegistry) -> Control {
        Control {
            registry,
            counts: [0; COUNTED.len()],
        }
    }

    /// Executes one request and builds its reply.
    pub fn handle(&mut self, now: Instant, wall: SystemTime, body: &Value) -> Value {
        self.handle_request(now, wall, NgRequest::from_value(body))
    }

    /// [`Control::handle`] for a body the caller no longer needs.
    pub fn handle_owned(&mut self, now: Instant, wall: SystemTime, body: Value) -> Value {
        self.handle_request(now, wall, NgRequest::from_owned(body))
    }

    fn handle_request(
        &mut self,
        now: Instant,
        wall: SystemTime,
        req: Result<NgRequest, ng::NgError>,
    ) -> Value {
        let req = match req {
            Ok(r) => r,
            Err(e) => return ng::error_reply(&e.reason()),
        };
        for f in &req.unknown_flags {
            tracing::info!(flag = %f, "ignoring unknown ng flag");
        }
        let counted = match &req.command {
            Command::Ping => Some(0),
            Command::Offer => Some(1),
            Command::Answer => Some(2),
            Command::Delete => Some(3),
            Command::Query => Some(4),
            Command::List => Some(5),
            Command::Statistics => Some(6),
            Command::Other(_) => None,
        };
        if let Some(i) = counted {
            self.counts[i] += 1;
        }
        match self.execute(now, wall, &req) {
            Ok(reply) => Value::Dict(reply),
            Err(e) => {
                tracing::warn!(call_id = ?req.call_id, "ng {:?} failed: {e}", req.command);
                ng::error_reply(&e.to_string())
            }
        }
    }

    fn execute(
        &mut self,
        now: Instant,
        wall: SystemTime,
        req: &NgRequest,
    ) -> Result<Dict, CommandError> {
        // Missing keys are reported in rtpengine's order before anything runs.
        req.check_required()
            .map_err(|e| CommandError::Request(e.reason()))?;
        let mut reply = Dict::new();
        match &req.command {
            Command::Ping => {
                reply.insert("result", "pong");
            }
            Command::Offer | Command::Answer => {
                let sdp = if req.command == Command::Offer {
                    self.registry.offer(now, wall, req)?
                } else {
                    self.registry.answer(now, wall, req)?
                };
                reply.insert("sdp", Value::Bytes(sdp));
                reply.insert("result", "ok");
            }
            Command::Delete => match self.registry.delete(now, req)? {
                crate::call::DeleteOutcome::Deleted(stats) => {
                    reply = stats.unwrap_or_default();
                    reply.insert("result", "ok");
                }
                crate::call::DeleteOutcome::NotFound => {
                    reply.insert("warning", CallError::NotFound.to_string());
                    reply.insert("result", "ok");
                }
            },
            Command::Query => {
                reply = self.registry.query(now, req)?;
                reply.insert("result", "ok");
            }
            Command::List => {
                let calls: Vec<Value> = self
                    .registry
                    .list(req.limit)
                    .into_iter()
                    .map(Value::from)
                    .collect();
                reply.insert("calls", calls);
                reply.insert("result", "ok");
            }
            Command::Statistics => {
                let counts: Vec<(&str, u64)> = COUNTED
                    .iter()
                    .copied()
                    .zip(self.counts.iter().copied())
                    .collect();
                reply = self.registry.statistics(now, wall, &counts);
                reply.insert("result", "ok");
            }
            Command::Other(_) => return Err(CommandError::Unrecognized),
        }
        Ok(reply)
    }
}

#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("Unrecognized command")]
    Unrecognized,
    #[error("{0}")]
    Request(String),
}
