//! quorate-store (being built).
