//! The tokio edge of the control plane: sockets, tasks and clocks. Everything
//! here moves bytes and time into the sans-IO modules and their outputs out.

pub mod alloc;
pub mod fast_path;
pub mod legacy;
pub mod ng_server;
pub mod ports;
pub mod run;
