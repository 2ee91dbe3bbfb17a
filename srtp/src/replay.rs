//! The sliding replay window of RFC 3711 §3.3.2.
//!
//! Bit `n` of the bitmap stands for the index `n` below the highest authenticated
//! index (bit 0 is the highest itself). The bitmap is kept as two `u64` halves so that
//! the per-stream state stays 8-byte aligned in shared memory.

use crate::error::SrtpError;

/// How many packets behind the highest one are still accepted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplayWindowSize {
    /// 64 packets, the minimum RFC 3711 §3.3.2 asks for.
    Packets64,
    /// 128 packets, libsrtp's default; tolerates more reordering.
    #[default]
    Packets128,
}

impl ReplayWindowSize {
    pub fn packets(self) -> u32 {
        match self {
            ReplayWindowSize::Packets64 => 64,
            ReplayWindowSize::Packets128 => 128,
        }
    }
}

/// The received-packets bitmap, as stored in stream states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct ReplayBitmap {
    low: u64,
    high: u64,
}

impl ReplayBitmap {
    fn bits(self) -> u128 {
        (u128::from(self.high) << 64) | u128::from(self.low)
    }

    fn from_bits(bits: u128) -> Self {
        ReplayBitmap {
            low: bits as u64,
            high: (bits >> 64) as u64,
        }
    }

    /// Refuses a packet `delta` indices from the highest if it was seen or has left the
    /// window; changes nothing, so it can run before authentication.
    pub(crate) fn check(self, delta: i64, size: ReplayWindowSize) -> Result<(), SrtpError> {
        if delta > 0 {
            return Ok(());
        }
        let behind = delta.unsigned_abs();
        if behind >= u64::from(size.packets()) {
            return Err(SrtpError::Replay { too_old: true });
        }
        if self.bits() & (1u128 << behind) != 0 {
            return Err(SrtpError::Replay { too_old: false });
        }
        Ok(())
    }

    /// Records an authenticated packet `delta` indices from the highest; a positive
    /// delta makes it the new highest.
    pub(crate) fn record(self, delta: i64) -> Self {
        let bits = self.bits();
        let updated = if delta > 0 {
            let shifted = if delta >= 128 { 0 } else { bits << delta };
            shifted | 1
        } else {
            let behind = delta.unsigned_abs();
            if behind >= 128 {
                bits
            } else {
                bits | (1u128 << behind)
            }
        };
        Self::from_bits(updated)
    }

    /// A window holding only the packet that started the stream.
    pub(crate) fn first() -> Self {
        Self::from_bits(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W64: ReplayWindowSize = ReplayWindowSize::Packets64;
    const W128: ReplayWindowSize = ReplayWindowSize::Packets128;

    #[test]
    fn duplicates_and_old_packets_are_refused() {
        let window = ReplayBitmap::first();
        assert_eq!(
            window.check(0, W128),
            Err(SrtpError::Replay { too_old: false })
        );
        assert_eq!(window.check(1, W128), Ok(()));
        assert_eq!(window.check(-1, W128), Ok(()));
        let window = window.record(-1);
        assert_eq!(
            window.check(-1, W128),
            Err(SrtpError::Replay { too_old: false })
        );
        assert_eq!(window.check(-127, W128), Ok(()));
        assert_eq!(
            window.check(-128, W128),
            Err(SrtpError::Replay { too_old: true })
        );
        assert_eq!(window.check(-63, W64), Ok(()));
        assert_eq!(
            window.check(-64, W64),
            Err(SrtpError::Replay { too_old: true })
        );
    }

    #[test]
    fn advancing_slides_the_bits() {
        let window = ReplayBitmap::first().record(3);
        // The old highest is now 3 behind.
        assert_eq!(
            window.check(-3, W128),
            Err(SrtpError::Replay { too_old: false })
        );
        assert_eq!(window.check(-2, W128), Ok(()));
        let window = window.record(125);
        assert_eq!(
            window.check(-128, W128),
            Err(SrtpError::Replay { too_old: true })
        );
        assert_eq!(
            window.check(-125, W128),
            Err(SrtpError::Replay { too_old: false })
        );
        let window = window.record(1000);
        assert_eq!(window.bits(), 1);
    }
}
