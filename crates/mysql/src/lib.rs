//! quorate-mysql (being built).
