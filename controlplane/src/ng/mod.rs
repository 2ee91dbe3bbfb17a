//! ng
