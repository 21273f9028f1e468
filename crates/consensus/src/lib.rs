//! quorate-consensus (being built).
