//! quorate-node (being built).
