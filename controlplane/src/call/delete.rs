//! `delete`: whole calls, or one branch by from-tag, to-tag or via-branch,
//! immediately or after `delete-delay`.

use std::time::Instant;

use crate::ng::{Dict, NgRequest};

use super::model::MonologueIdx;
use super::registry::CallRegistry;
use super::CallError;

/// What `delete` found, for the reply.
pub enum DeleteOutcome {
    /// The call's stats at deletion time (rtpengine only reports them when
    /// the request names a from-tag).
    Deleted(Option<Dict>),
    /// Nothing matched and the request was not `fatal`: rtpengine answers
    /// `ok` with a warning.
    NotFound,
}

impl CallRegistry {
    pub fn delete(&mut self, now: Instant, req: &NgRequest) -> Result<DeleteOutcome, CallError> {
        let call_id = req.call_id.as_deref().ok_or(CallError::NoCallId)?;
        let not_found = || {
            if req.flags.fatal {
                Err(CallError::NotFound)
            } else {
                Ok(DeleteOutcome::NotFound)
            }
        };
        let Some(call) = self.calls.get(call_id) else {
            return not_found();
        };
        let live = |i: &MonologueIdx| !call.monologues[*i].deleted;

        // Which monologues go: none named means the whole call.
        let targets: Vec<MonologueIdx> = match (req.from_tag.as_deref(), req.to_tag.as_deref()) {
            (None, None) if req.via_branch.is_some() => {
                let vb = req.via_branch.as_deref();
                let found: Vec<_> = (0..call.monologues.len())
                    .filter(live)
                    .filter(|&i| call.monologues[i].via_branch.as_deref() == vb)
                    .collect();
                if found.is_empty() {
                    return not_found();
                }
                found
            }
            (None, None) => (0..call.monologues.len()).filter(live).collect(),
            (from, to) => {
                // An unknown to-tag with a via-branch (a branch renamed
                // since) degrades to a from-tag delete, as in rtpengine;
                // without one it is a mismatch.
                let mut named = Vec::new();
                match from.and_then(|f| call.find_tag(f)).filter(live) {
                    Some(i) => named.push(i),
                    None if from.is_some() => return not_found(),
                    None => {}
                }
                match to.and_then(|t| call.find_tag(t)).filter(live) {
                    Some(i) => named.push(i),
                    None if to.is_some() && (from.is_none() || req.via_branch.is_none()) => {
                        return not_found()
                    }
                    None => {}
                }
                // With both tags the branch is the to-tag's; the from-tag
                // party goes only if that branch was all it had. With one
                // tag, its partners go along unless they talk to others too.
                let (mut t, others): (Vec<_>, Vec<_>) = match named.as_slice() {
                    [f, to] => (vec![*to], vec![*f]),
                    [f] => (vec![*f], associates(call, *f)),
                    _ => (named.clone(), Vec::new()),
                };
                for o in others {
                    let only_ours = associates(call, o)
                        .iter()
                        .filter(|&&x| live(&x))
                        .all(|x| t.contains(x));
                    if live(&o) && only_ours && !t.contains(&o) {
                        t.push(o);
                    }
                }
                t
            }
        };

        let stats = req
            .from_tag
            .is_some()
            .then(|| self.call_stats(call, now, req.from_tag.as_deref(), req.to_tag.as_deref()));
        let whole_call = (0..call.monologues.len())
            .filter(live)
            .all(|i| targets.contains(&i));
        let delay = req.delete_delay.unwrap_or(self.settings.delete_delay);

        if whole_call {
            if delay.is_zero() {
                self.totals.regular_terminated += 1;
                if let Some(call) = self.destroy_call(call_id, now) {
                    self.totals.record_duration(call.age(now));
                }
            } else if let Some(call) = self.calls.get_mut(call_id) {
                // Media keeps flowing until then, as in rtpengine: BYE
                // retransmissions and late packets still get through.
                let at = now + delay;
                call.delete_at = Some(call.delete_at.map_or(at, |t| t.min(at)));
            }
        } else {
            self.delete_branches(call_id, &targets, now);
        }
        Ok(DeleteOutcome::Deleted(stats))
    }

    fn delete_branches(&mut self, call_id: &str, targets: &[MonologueIdx], now: Instant) {
        for &i in targets {
            let Some(ml) = self
                .calls
                .get_mut(call_id)
                .and_then(|c| c.monologues.get_mut(i))
            else {
                continue;
            };
            ml.deleted = true;
            // Released media stay in the monologue so that later queries
            // still show their endpoints and stats, as rtpengine's do.
            let mut medias = std::mem::take(&mut ml.medias);
            for m in &mut medias {
                self.release_media(m, now);
            }
            if let Some(ml) = self
                .calls
                .get_mut(call_id)
                .and_then(|c| c.monologues.get_mut(i))
            {
                ml.medias = medias;
            }
        }
        // Streams whose destination went away now punt (and drop).
        self.program_call(call_id);
    }
}

/// Monologues `ml` exchanges media with, either way.
fn associates(call: &super::model::Call, ml: MonologueIdx) -> Vec<MonologueIdx> {
    let mut v: Vec<MonologueIdx> = call.monologues[ml].subscribers.clone();
    for (i, o) in call.monologues.iter().enumerate() {
        if o.subscribers.contains(&ml) && !v.contains(&i) {
            v.push(i);
        }
    }
    v.retain(|&i| i != ml);
    v
}
