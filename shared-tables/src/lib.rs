//! The flow table: the one contract between rtpbolt's control plane and its data planes.
