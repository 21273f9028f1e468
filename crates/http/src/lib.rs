//! quorate-http (being built).
