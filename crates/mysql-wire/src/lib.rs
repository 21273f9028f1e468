//! quorate-mysql-wire (being built).
