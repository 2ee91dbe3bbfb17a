//! rtpbolt's data plane: one backend-independent packet function and its backends.
