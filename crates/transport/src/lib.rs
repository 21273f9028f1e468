//! quorate-transport (being built).
