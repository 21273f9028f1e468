//! quorate-sql (being built).
