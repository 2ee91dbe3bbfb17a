//! SRTP packet index estimation (RFC 3711 §3.3.1 and Appendix A).
//!
//! Only the 16-bit sequence number travels in the packet; the 32-bit rollover counter
//! (ROC) is inferred from the highest sequence number seen so far, assuming a packet
//! is never more than half the sequence space away from it.

/// Where a packet's sequence number places it relative to the highest seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEstimate {
    /// The ROC guessed for the packet, `v` of Appendix A, before reduction mod 2^32:
    /// -1 and 2^32 are the two ends of the counter.
    pub(crate) roc: i64,
    /// The packet's index minus the highest index seen: > 0 for a new highest packet,
    /// 0 for a repeat of it, < 0 for an older one.
    pub(crate) delta: i64,
}

impl IndexEstimate {
    /// The ROC to authenticate and encrypt with; RFC 3711 takes `v` mod 2^32.
    pub(crate) fn roc_mod_2_32(&self) -> u32 {
        self.roc as u32
    }

    /// The 48-bit packet index `i = 2^16 * ROC + SEQ`, for IVs and key derivation.
    pub(crate) fn packet_index(&self, seq: u16) -> u64 {
        (u64::from(self.roc_mod_2_32()) << 16) | u64::from(seq)
    }
}

/// Appendix A, with `s_l` the highest sequence number seen under rollover counter `roc`.
pub(crate) fn estimate_index(roc: u32, s_l: u16, seq: u16) -> IndexEstimate {
    const HALF: i64 = 32_768;
    let (roc, s_l, seq) = (i64::from(roc), i64::from(s_l), i64::from(seq));
    let v = if s_l < HALF {
        if seq - s_l > HALF {
            roc - 1
        } else {
            roc
        }
    } else if s_l - HALF > seq {
        roc + 1
    } else {
        roc
    };
    IndexEstimate {
        roc: v,
        delta: (v - roc) * 65_536 + seq - s_l,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_reordered_packets_keep_the_roc() {
        assert_eq!(
            estimate_index(5, 1000, 1001),
            IndexEstimate { roc: 5, delta: 1 }
        );
        assert_eq!(
            estimate_index(5, 1000, 990),
            IndexEstimate { roc: 5, delta: -10 }
        );
        assert_eq!(
            estimate_index(5, 1000, 1000),
            IndexEstimate { roc: 5, delta: 0 }
        );
    }

    #[test]
    fn wrap_forward_and_late_packets_from_before_the_wrap() {
        // Highest 65530, packet 3: the sequence number wrapped.
        assert_eq!(
            estimate_index(7, 65_530, 3),
            IndexEstimate { roc: 8, delta: 9 }
        );
        // Highest 3 after the wrap, a late packet 65530 belongs to the previous ROC.
        assert_eq!(
            estimate_index(8, 3, 65_530),
            IndexEstimate { roc: 7, delta: -9 }
        );
    }

    #[test]
    fn the_ends_of_the_counter_are_left_to_the_caller() {
        let before_start = estimate_index(0, 3, 65_530);
        assert_eq!(before_start.roc, -1);
        assert_eq!(before_start.roc_mod_2_32(), u32::MAX);
        let past_end = estimate_index(u32::MAX, 65_530, 3);
        assert_eq!(past_end.roc, 1 << 32);
    }

    #[test]
    fn packet_index_is_48_bits() {
        let estimate = estimate_index(0xdead_beef, 10, 11);
        assert_eq!(estimate.packet_index(11), 0xdead_beef_000b);
    }
}
