//! SRTP/SRTCP on the fast path: what a worker does to the payload of a forward whose flow
//! entry carries keys (`FLOW_SRTP_IN`: authenticate, check replay, decrypt;
//! `FLOW_SRTP_OUT`: encrypt, authenticate), as xt_RTPENGINE does in the kernel, so
//! RTP↔SRTP bridging and SRTP re-keying never leave the worker.
//!
//! The table holds master keys ([`shared_tables::FlowCrypto`]); deriving session keys
//! and expanding the AES and HMAC state costs microseconds, so each worker keeps the
//! derived sessions in a line per table slot, tagged with the keys' generation: a re-key
//! (new generation) or another entry in the slot rebuilds it. A line per slot, not a
//! smaller cache the slots share: a media server relays thousands of SRTP flows at once,
//! and flows sharing a line would rebuild it on nearly every packet. A line is allocated
//! the first time a worker meets its slot's keys (a few KiB: two sessions with expanded
//! keys) and rebuilt in place after that.
//! Beside the sessions a line holds the per-direction stream state (rollover counter,
//! highest sequence number, replay window, SRTCP index). Its progress is published to the
//! entry once per batch ([`shared_tables::SrtpProgress`]), and a rebuilt line starts
//! from the furthest of what the control plane left in the entry and what a worker
//! published, so a restart of the data plane, or a flow moving to another worker,
//! continues the indices rather than restarting them. Only the replay window is lost
//! then; a packet it would have caught is at worst accepted once more.
//!
//! The transform itself, with its stream rules (one SSRC per direction, a new SSRC
//! restarts the state), is [`srtp::SrtpRelay`], the same type the control plane relays
//! with, built from the same table keys by [`session`].
//!
//! Per packet: no allocation, lock or system call. Allocation happens once per slot a
//! worker first meets (and when the line index grows past the highest slot seen).

use shared_tables::{
    EntryId, FlowCrypto, SrtpKey, SrtpProgress, TableReader, FLOW_SRTP_IN, FLOW_SRTP_OUT,
    SRTP_UNAUTHENTICATED_SRTP, SRTP_UNENCRYPTED_SRTCP, SRTP_UNENCRYPTED_SRTP,
};
use srtp::{MasterKey, RelayIndices, SessionFlags, SrtpError, SrtpRelay, SrtpSession, SrtpSuite};

use crate::batch::DropReason;
use crate::policy::SrtpStep;

/// Dirty lines remembered per batch before their progress is published early.
const PENDING: usize = 64;

/// What became of a payload given to [`SrtpStage::apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SrtpOutcome {
    /// Transformed in place; the new payload length.
    Forward(usize),
    /// Dropped (auth failure, replay, malformed SRTP, no room for the tag).
    Drop(DropReason),
    /// The entry's keys are missing or unusable right now (mid-write, repaired after a
    /// crash, a suite this build lacks): the control plane decides.
    Punt,
}

/// One cache line: an entry's sessions and stream state.
struct Line {
    id: EntryId,
    generation: u32,
    /// The table keys `relay` was built from.
    inbound_key: Option<SrtpKey>,
    outbound_key: Option<SrtpKey>,
    relay: SrtpRelay,
    /// Counts and indices not yet published to the entry.
    progress: SrtpProgress,
    pending: bool,
}

impl Line {
    /// Before a re-keyed entry's line is rebuilt: indices of a half whose key changed
    /// belong to the old key's stream and must not seed the new one (the table forgot
    /// them when the control plane wrote the new key). Counts are kept.
    fn forget_progress_of_replaced_keys(&mut self, new: &FlowCrypto) {
        if self.inbound_key != new.inbound {
            self.progress.in_index = None;
            self.progress.in_ssrc = None;
        }
        if self.outbound_key != new.outbound {
            self.progress.out_index = None;
            self.progress.out_rtcp_index = None;
            self.progress.out_ssrc = None;
        }
    }
}

/// A worker's SRTP state (see the module doc).
pub struct SrtpStage {
    /// By table slot; `None` for slots this worker has no usable keys of.
    lines: Vec<Option<Box<Line>>>,
    pending: [usize; PENDING],
    npending: usize,
}

impl Default for SrtpStage {
    fn default() -> Self {
        SrtpStage::new()
    }
}

impl SrtpStage {
    pub fn new() -> SrtpStage {
        SrtpStage {
            lines: Vec::new(),
            pending: [0; PENDING],
            npending: 0,
        }
    }

    /// Decrypts and/or encrypts the payload `buf[..len]` in place as `step` says; `buf`
    /// beyond `len` is room for the outgoing tag and MKI.
    pub(crate) fn apply(
        &mut self,
        table: &TableReader,
        step: SrtpStep,
        buf: &mut [u8],
        len: usize,
    ) -> SrtpOutcome {
        let generation = table.crypto_generation(step.id);
        if generation == 0 {
            return SrtpOutcome::Punt;
        }
        let at = step.id.index();
        if at >= self.lines.len() {
            self.lines.resize_with(at + 1, || None);
        }
        let current = matches!(&self.lines[at], Some(l) if l.generation == generation);
        if !current {
            let crypto = table.crypto(step.id);
            if let (Some(old), Some(new)) = (self.lines[at].as_mut(), crypto.as_ref()) {
                old.forget_progress_of_replaced_keys(new);
            }
            self.publish_line(at, table);
            match (
                crypto.and_then(|c| build(table, step.id, c)),
                &mut self.lines[at],
            ) {
                (Some(line), Some(old)) => **old = line,
                (Some(line), slot) => *slot = Some(Box::new(line)),
                (None, slot) => *slot = None,
            }
        }
        let Some(line) = self.lines[at].as_mut() else {
            return SrtpOutcome::Punt;
        };
        let outcome = transform(line, step, buf, len);
        if !line.pending {
            line.pending = true;
            if self.npending == PENDING {
                self.publish(table);
            }
            self.pending[self.npending] = at;
            self.npending += 1;
        }
        outcome
    }

    /// Publishes the batch's SRTP counts and indices to the table. Call once per batch.
    pub(crate) fn publish(&mut self, table: &TableReader) {
        for i in 0..self.npending {
            let at = self.pending[i];
            self.publish_line(at, table);
        }
        self.npending = 0;
    }

    fn publish_line(&mut self, at: usize, table: &TableReader) {
        if let Some(line) = self.lines[at].as_mut() {
            if line.pending {
                table.record_srtp(line.id, &line.progress);
                line.progress = SrtpProgress::default();
                line.pending = false;
            }
        }
    }
}

/// The decrypt and encrypt halves for one payload.
fn transform(line: &mut Line, step: SrtpStep, buf: &mut [u8], len: usize) -> SrtpOutcome {
    let relay = &mut line.relay;
    // The action a worker holds may be a batch older than the keys: whatever does not
    // match is for the control plane to sort out.
    if (step.flags & FLOW_SRTP_IN != 0) != relay.decrypts()
        || (step.flags & FLOW_SRTP_OUT != 0) != relay.encrypts()
    {
        return SrtpOutcome::Punt;
    }
    match relay.transform(step.rtcp, buf, len) {
        Ok(n) => {
            let at = relay.indices();
            if step.rtcp {
                if relay.encrypts() {
                    line.progress.out_rtcp_index = Some(u64::from(at.out_rtcp_next));
                }
            } else {
                if relay.decrypts() {
                    line.progress.in_index = at.in_index;
                    line.progress.in_ssrc = at.in_ssrc;
                }
                if relay.encrypts() {
                    line.progress.out_index = at.out_index;
                    line.progress.out_ssrc = at.out_ssrc;
                }
            }
            SrtpOutcome::Forward(n)
        }
        Err(e) => SrtpOutcome::Drop(drop_reason(&e, &mut line.progress)),
    }
}

/// Counts a failed packet on its entry and says why it is dropped.
fn drop_reason(e: &SrtpError, progress: &mut SrtpProgress) -> DropReason {
    match e {
        SrtpError::AuthFailed | SrtpError::MkiMismatch => {
            progress.auth_failures += 1;
            DropReason::SrtpAuth
        }
        SrtpError::Replay { .. } => {
            progress.replays += 1;
            DropReason::SrtpReplay
        }
        _ => DropReason::Malformed,
    }
}

/// A cache line for entry `id` from its keys in the table, or `None` if they cannot be
/// used.
fn build(table: &TableReader, id: EntryId, crypto: FlowCrypto) -> Option<Line> {
    let published = table.srtp_counters(id).unwrap_or_default();
    let inbound = crypto.inbound.as_ref().map(session).transpose().ok()?;
    let outbound = crypto.outbound.as_ref().map(session).transpose().ok()?;
    let out_rtcp = crypto
        .out_rtcp_index
        .max(published.out_rtcp_index.unwrap_or(0));
    let (in_index, in_ssrc) = furthest(crypto.in_index, published.in_index, published.in_ssrc);
    let (out_index, out_ssrc) = furthest(crypto.out_index, published.out_index, published.out_ssrc);
    let at = RelayIndices {
        in_index,
        out_index,
        // Past the 31-bit index space the session refuses to send (KeyExhausted) rather
        // than wrap and reuse keystream, so an out-of-range value saturates, never wraps.
        out_rtcp_next: u32::try_from(out_rtcp).unwrap_or(u32::MAX),
        in_ssrc,
        out_ssrc,
    };
    Some(Line {
        id,
        generation: crypto.generation,
        inbound_key: crypto.inbound,
        outbound_key: crypto.outbound,
        relay: SrtpRelay::new(inbound, outbound, at),
        progress: SrtpProgress::default(),
        pending: false,
    })
}

/// The further of the control plane's index and the one workers published, with the
/// SSRC it belongs to where that is known (the control plane's entry carries none).
fn furthest(
    control_plane: Option<u64>,
    published: Option<u64>,
    published_ssrc: Option<u32>,
) -> (Option<u64>, Option<u32>) {
    if published.is_some() && published >= control_plane {
        (published, published_ssrc)
    } else {
        (control_plane, None)
    }
}

/// The derived session for one master key as the flow table holds it: the one way from
/// a table key to a session, for the workers and for the control plane's own path.
pub fn session(k: &SrtpKey) -> Result<SrtpSession, SrtpError> {
    let suite = SrtpSuite::from_id(k.suite).ok_or(SrtpError::Unsupported(
        "an SRTP suite id this build does not know",
    ))?;
    let master = MasterKey {
        suite,
        key: k.key,
        salt: k.salt,
        mki: k.mki,
        kdr: k.kdr,
    };
    let flags = SessionFlags {
        unencrypted_srtp: k.params & SRTP_UNENCRYPTED_SRTP != 0,
        unencrypted_srtcp: k.params & SRTP_UNENCRYPTED_SRTCP != 0,
        unauthenticated_srtp: k.params & SRTP_UNAUTHENTICATED_SRTP != 0,
    };
    SrtpSession::new(&master, flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Batch, Verdict};
    use crate::counters::WorkerCounters;
    use crate::process::process;
    use core::time::Duration;
    use shared_tables::{FlowAction, FlowKey, FlowTable, SrcMismatch, TableWriter, FLOW_RTCP};
    use srtp::{RtcpStreamState, RtpStreamState};
    use std::net::SocketAddr;

    const LOCAL: &str = "127.0.0.1:30000";
    const PEER: &str = "127.0.0.1:50000";
    const SUITE: SrtpSuite = SrtpSuite::AesCm128HmacSha1_80;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn key(fill: u8) -> SrtpKey {
        SrtpKey {
            suite: SUITE.to_id(),
            key: [fill; 32],
            salt: [fill.wrapping_add(1); 14],
            ..SrtpKey::default()
        }
    }

    /// The far ends' view of a key: an independent session and stream state.
    fn endpoint(k: &SrtpKey) -> SrtpSession {
        session(k).expect("valid test key")
    }

    fn setup(
        inbound: Option<SrtpKey>,
        outbound: Option<SrtpKey>,
        rtcp: bool,
    ) -> (FlowTable, TableWriter) {
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        let crypto = FlowCrypto {
            inbound,
            outbound,
            ..FlowCrypto::default()
        };
        let action = FlowAction {
            dst: sa("127.0.0.1:40000"),
            src: sa("127.0.0.1:30002"),
            expected_src: Some(sa(PEER)),
            src_mismatch: SrcMismatch::Drop,
            tos: 0,
            flags: crypto.flags() | if rtcp { FLOW_RTCP } else { 0 },
            stream_id: 1,
        };
        w.upsert_with_crypto(FlowKey::new(sa(LOCAL)), &action, &crypto)
            .unwrap();
        (t, w)
    }

    /// The RTP flow at `LOCAL` with `crypto`, from any source.
    fn write_keys(w: &mut TableWriter, crypto: &FlowCrypto) {
        let action = FlowAction {
            dst: sa("127.0.0.1:40000"),
            src: sa("127.0.0.1:30002"),
            expected_src: None,
            src_mismatch: SrcMismatch::Forward,
            tos: 0,
            flags: crypto.flags(),
            stream_id: 1,
        };
        w.upsert_with_crypto(FlowKey::new(sa(LOCAL)), &action, crypto)
            .unwrap();
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend((0..160).map(|i| (i as u8) ^ (seq as u8)));
        p
    }

    fn rtcp_sr() -> Vec<u8> {
        let mut p = vec![0x80, 200, 0, 6, 0xde, 0xad, 0xbe, 0xef];
        p.extend([7u8; 20]);
        p
    }

    /// Runs `packets` through the sockets path as one batch per packet.
    fn run(
        t: &FlowTable,
        stage: &mut SrtpStage,
        packets: &[Vec<u8>],
    ) -> (Vec<(Verdict, Vec<u8>)>, WorkerCounters) {
        let mut c = WorkerCounters::default();
        let mut out = Vec::new();
        for p in packets {
            let mut b = Batch::new();
            b.set_now(Duration::from_secs(100));
            b.push(sa(LOCAL), sa(PEER), p);
            process(&mut b, &t.reader(), &mut c, stage);
            let pkt = &b.packets()[0];
            out.push((pkt.verdict(), pkt.data().to_vec()));
        }
        (out, c)
    }

    fn protect(s: &SrtpSession, st: &mut RtpStreamState, plain: &[u8]) -> Vec<u8> {
        let mut buf = plain.to_vec();
        buf.resize(plain.len() + 64, 0);
        let n = s.protect_rtp(st, &mut buf, plain.len()).unwrap();
        buf.truncate(n);
        buf
    }

    fn unprotect(s: &SrtpSession, st: &mut RtpStreamState, mut srtp: Vec<u8>) -> Vec<u8> {
        let n = s.unprotect_rtp(st, &mut srtp).unwrap();
        srtp.truncate(n);
        srtp
    }

    #[test]
    fn srtp_to_srtp_re_keys_and_drops_tampered_and_replayed() {
        let (a, b) = (key(0x11), key(0x22));
        let (t, w) = setup(Some(a), Some(b), false);
        let (sender, receiver) = (endpoint(&a), endpoint(&b));
        let (mut tx, mut rx) = (RtpStreamState::default(), RtpStreamState::default());
        let mut stage = SrtpStage::new();
        let sent: Vec<_> = (1..=5)
            .map(|s| protect(&sender, &mut tx, &rtp(s)))
            .collect();
        let mut tampered = sent[4].clone();
        tampered[20] ^= 1;
        let mut input = sent[..4].to_vec();
        input.extend([tampered, sent[1].clone(), sent[4].clone()]);
        let (out, c) = run(&t, &mut stage, &input);
        for (i, (v, data)) in out[..4].iter().enumerate() {
            assert!(matches!(v, Verdict::Forward { .. }), "packet {i}: {v:?}");
            assert_eq!(
                unprotect(&receiver, &mut rx, data.clone()),
                rtp(i as u16 + 1)
            );
        }
        assert_eq!(out[4].0, Verdict::Drop(DropReason::SrtpAuth));
        assert_eq!(out[5].0, Verdict::Drop(DropReason::SrtpReplay));
        assert!(
            matches!(out[6].0, Verdict::Forward { .. }),
            "the untampered 5th"
        );
        assert_eq!(unprotect(&receiver, &mut rx, out[6].1.clone()), rtp(5));
        assert_eq!(
            (c.forwarded, c.dropped_srtp_auth, c.dropped_srtp_replay),
            (5, 1, 1)
        );
        let k = FlowKey::new(sa(LOCAL));
        let s = w.srtp_counters(&k).unwrap();
        assert_eq!((s.auth_failures, s.replays), (1, 1));
        assert_eq!((s.in_index, s.out_index), (Some(5), Some(5)));
        let e = w.counters(&k).unwrap();
        assert_eq!((e.packets, e.errors), (5, 2));
    }

    fn rtp_ssrc_seq(ssrc: u32, seq: u16) -> Vec<u8> {
        let mut p = rtp(seq);
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p
    }

    /// The control plane hands over a stream past its first rollover: the same stream
    /// continues under that ROC, and a different stream (new keys, new SSRC) still
    /// starts from zero. Outbound, a new SSRC restarts the ROC the receiver expects.
    #[test]
    fn handed_over_indices_continue_one_stream_and_restart_others() {
        let (a, b) = (key(0x66), key(0x77));
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        let crypto = FlowCrypto {
            inbound: Some(a),
            outbound: Some(b),
            in_index: Some(3 << 16 | 100),
            out_index: Some(3 << 16 | 100),
            ..FlowCrypto::default()
        };
        write_keys(&mut w, &crypto);
        let (sender, receiver) = (endpoint(&a), endpoint(&b));
        // The stream that was handed over, as both far ends have it.
        let mut tx = RtpStreamState::new(3, 100);
        let mut rx = RtpStreamState::new(3, 100);
        let same = protect(&sender, &mut tx, &rtp_ssrc_seq(1, 101));
        let (out, _) = run(&t, &mut SrtpStage::new(), &[same]);
        assert!(
            matches!(out[0].0, Verdict::Forward { .. }),
            "{:?}",
            out[0].0
        );
        assert_eq!(
            unprotect(&receiver, &mut rx, out[0].1.clone()),
            rtp_ssrc_seq(1, 101)
        );
        assert_eq!(rx.roc(), 3);

        // A fresh line meeting a different stream: its first packet has ROC 0.
        let mut tx2 = RtpStreamState::default();
        let other = protect(&sender, &mut tx2, &rtp_ssrc_seq(2, 5));
        let mut stage = SrtpStage::new();
        let (out, c) = run(&t, &mut stage, &[other]);
        assert!(
            matches!(out[0].0, Verdict::Forward { .. }),
            "{:?}",
            out[0].0
        );
        assert_eq!(c.dropped_srtp_auth, 0);
        // Its re-encryption also starts at ROC 0 for the receiver's new stream.
        let mut rx2 = RtpStreamState::default();
        let next = protect(&sender, &mut tx2, &rtp_ssrc_seq(2, 6));
        let (out2, _) = run(&t, &mut stage, &[next]);
        assert_eq!(
            unprotect(&receiver, &mut rx2, out2[0].1.clone()),
            rtp_ssrc_seq(2, 6)
        );
        assert_eq!(rx2.roc(), 0);
    }

    /// A re-key after the first rollover: the half whose key changed starts a new
    /// stream at ROC 0, as its far end does; the unchanged half carries on.
    #[test]
    fn a_new_key_starts_its_own_stream_and_an_unchanged_one_continues() {
        let (a, b, a2, b2) = (key(0x11), key(0x22), key(0x33), key(0x44));
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        write_keys(
            &mut w,
            &FlowCrypto {
                inbound: Some(a),
                outbound: Some(b),
                in_index: Some(1 << 16 | 100),
                out_index: Some(1 << 16 | 100),
                ..FlowCrypto::default()
            },
        );
        let mut stage = SrtpStage::new();
        let mut relay_one = |sender: &SrtpKey, tx: &mut RtpStreamState, seq: u16| {
            let p = protect(&endpoint(sender), tx, &rtp(seq));
            let (out, _) = run(&t, &mut stage, &[p]);
            assert!(
                matches!(out[0].0, Verdict::Forward { .. }),
                "{:?}",
                out[0].0
            );
            out[0].1.clone()
        };
        let mut rx = RtpStreamState::new(1, 100);
        let out = relay_one(&a, &mut RtpStreamState::new(1, 100), 101);
        assert_eq!(unprotect(&endpoint(&b), &mut rx, out), rtp(101));

        // The sender re-keys: its new stream starts at ROC 0; ours to the receiver
        // (same key) continues at ROC 1. The control plane's fresh path has no indices.
        write_keys(
            &mut w,
            &FlowCrypto {
                inbound: Some(a2),
                outbound: Some(b),
                ..FlowCrypto::default()
            },
        );
        let mut tx2 = RtpStreamState::default();
        let out = relay_one(&a2, &mut tx2, 102);
        assert_eq!(unprotect(&endpoint(&b), &mut rx, out), rtp(102));
        assert_eq!(rx.roc(), 1);

        // Now our key to the receiver changes: it expects a new stream at ROC 0.
        write_keys(
            &mut w,
            &FlowCrypto {
                inbound: Some(a2),
                outbound: Some(b2),
                ..FlowCrypto::default()
            },
        );
        let out = relay_one(&a2, &mut tx2, 103);
        let mut rx2 = RtpStreamState::default();
        assert_eq!(unprotect(&endpoint(&b2), &mut rx2, out), rtp(103));
        assert_eq!(rx2.roc(), 0);
    }

    /// A line rebuilt after eviction or a data-plane restart learns from the entry which
    /// SSRC the published index belongs to, so a source that changed SSRC meanwhile
    /// starts its new stream at ROC 0 for the receiver, as the receiver expects.
    #[test]
    fn a_rebuilt_line_knows_the_ssrc_of_the_published_index() {
        let b = key(0x55);
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        write_keys(
            &mut w,
            &FlowCrypto {
                outbound: Some(b),
                out_index: Some(1 << 16 | 5),
                ..FlowCrypto::default()
            },
        );
        let receiver = endpoint(&b);
        let (out, _) = run(&t, &mut SrtpStage::new(), &[rtp_ssrc_seq(1, 6)]);
        let mut rx = RtpStreamState::new(1, 5);
        assert_eq!(
            unprotect(&receiver, &mut rx, out[0].1.clone()),
            rtp_ssrc_seq(1, 6)
        );
        let published = w.srtp_counters(&FlowKey::new(sa(LOCAL))).unwrap();
        assert_eq!(
            (published.out_index, published.out_ssrc),
            (Some(1 << 16 | 6), Some(1))
        );

        let (out, _) = run(&t, &mut SrtpStage::new(), &[rtp_ssrc_seq(2, 900)]);
        let mut rx2 = RtpStreamState::default();
        assert_eq!(
            unprotect(&receiver, &mut rx2, out[0].1.clone()),
            rtp_ssrc_seq(2, 900)
        );
        assert_eq!(rx2.roc(), 0);
    }

    #[test]
    fn rtp_to_srtp_and_srtp_to_rtp() {
        let b = key(0x22);
        let (t, _w) = setup(None, Some(b), false);
        let receiver = endpoint(&b);
        let mut rx = RtpStreamState::default();
        let (out, _) = run(&t, &mut SrtpStage::new(), &[rtp(7), rtp(8)]);
        for (i, (_, data)) in out.iter().enumerate() {
            assert_eq!(data.len(), rtp(0).len() + 10);
            assert_eq!(
                unprotect(&receiver, &mut rx, data.clone()),
                rtp(7 + i as u16)
            );
        }

        let a = key(0x33);
        let (t, _w) = setup(Some(a), None, false);
        let sender = endpoint(&a);
        let mut tx = RtpStreamState::default();
        let srtp = protect(&sender, &mut tx, &rtp(9));
        let (out, _) = run(&t, &mut SrtpStage::new(), &[srtp.clone(), vec![0x80; 11]]);
        assert_eq!(out[0].1, rtp(9));
        assert_eq!(out[1].0, Verdict::Drop(DropReason::Malformed));
        // plain RTP to an SRTP-in flow fails authentication rather than passing through
        let (out, _) = run(&t, &mut SrtpStage::new(), &[rtp(10)]);
        assert_eq!(out[0].0, Verdict::Drop(DropReason::SrtpAuth));
    }

    #[test]
    fn srtcp_both_ways_continues_the_control_planes_index() {
        let (a, b) = (key(0x44), key(0x55));
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        let crypto = FlowCrypto {
            inbound: Some(a),
            outbound: Some(b),
            out_rtcp_index: 41,
            ..FlowCrypto::default()
        };
        let action = FlowAction {
            dst: sa("127.0.0.1:40001"),
            src: sa("127.0.0.1:30003"),
            expected_src: None,
            src_mismatch: SrcMismatch::Forward,
            tos: 0,
            flags: crypto.flags() | FLOW_RTCP,
            stream_id: 2,
        };
        w.upsert_with_crypto(FlowKey::new(sa(LOCAL)), &action, &crypto)
            .unwrap();
        let (sender, receiver) = (endpoint(&a), endpoint(&b));
        let mut tx = RtcpStreamState::default();
        let plain = rtcp_sr();
        let mut buf = plain.clone();
        buf.resize(plain.len() + 64, 0);
        let n = sender.protect_rtcp(&mut tx, &mut buf, plain.len()).unwrap();
        buf.truncate(n);
        let (out, _) = run(&t, &mut SrtpStage::new(), &[buf]);
        let mut got = out[0].1.clone();
        // SRTCP index with the E bit, after the payload: where the control plane left off.
        let at = plain.len();
        let e_index = u32::from_be_bytes(got[at..at + 4].try_into().unwrap());
        assert_eq!(e_index, 0x8000_0000 | 41);
        let mut rx = RtcpStreamState::default();
        let n = receiver.unprotect_rtcp(&mut rx, &mut got).unwrap();
        assert_eq!(&got[..n], &plain[..]);
        let s = w.srtp_counters(&FlowKey::new(sa(LOCAL))).unwrap();
        assert_eq!(s.out_rtcp_index, Some(42));
    }

    #[test]
    fn rekey_rebuilds_and_missing_keys_punt() {
        let (a, b) = (key(0x11), key(0x22));
        let (t, mut w) = setup(None, Some(a), false);
        let mut stage = SrtpStage::new();
        let (out, _) = run(&t, &mut stage, &[rtp(1)]);
        let mut rx = RtpStreamState::default();
        assert_eq!(unprotect(&endpoint(&a), &mut rx, out[0].1.clone()), rtp(1));
        // new outbound key: the cached session is rebuilt
        let crypto = FlowCrypto {
            outbound: Some(b),
            ..FlowCrypto::default()
        };
        let (_, action) = w.get(&FlowKey::new(sa(LOCAL))).unwrap();
        w.upsert_with_crypto(FlowKey::new(sa(LOCAL)), &action, &crypto)
            .unwrap();
        let (out, _) = run(&t, &mut stage, &[rtp(2)]);
        let mut rx = RtpStreamState::default();
        assert_eq!(unprotect(&endpoint(&b), &mut rx, out[0].1.clone()), rtp(2));
        // a suite id this build does not know: the control plane decides
        let bad = FlowCrypto {
            outbound: Some(SrtpKey { suite: 0xee, ..b }),
            ..FlowCrypto::default()
        };
        w.upsert_with_crypto(FlowKey::new(sa(LOCAL)), &action, &bad)
            .unwrap();
        let (out, c) = run(&t, &mut stage, &[rtp(3)]);
        assert_eq!((out[0].0, c.punted), (Verdict::Punt, 1));
        assert_eq!(out[0].1, rtp(3), "punted unchanged");
    }
}
