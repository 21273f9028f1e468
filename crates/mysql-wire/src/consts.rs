//! Protocol constants: capability flags, status flags, command bytes, and the MySQL error
//! codes this crate sends itself.

/// Capability flags (`CLIENT_*`) this crate knows about.
pub(crate) mod cap {
    pub const LONG_PASSWORD: u32 = 1;
    pub const FOUND_ROWS: u32 = 1 << 1;
    pub const LONG_FLAG: u32 = 1 << 2;
    pub const CONNECT_WITH_DB: u32 = 1 << 3;
    pub const PROTOCOL_41: u32 = 1 << 9;
    pub const INTERACTIVE: u32 = 1 << 10;
    pub const SSL: u32 = 1 << 11;
    pub const TRANSACTIONS: u32 = 1 << 13;
    pub const SECURE_CONNECTION: u32 = 1 << 15;
    pub const MULTI_STATEMENTS: u32 = 1 << 16;
    pub const MULTI_RESULTS: u32 = 1 << 17;
    pub const PS_MULTI_RESULTS: u32 = 1 << 18;
    pub const PLUGIN_AUTH: u32 = 1 << 19;
    pub const CONNECT_ATTRS: u32 = 1 << 20;
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 1 << 21;
    pub const DEPRECATE_EOF: u32 = 1 << 24;

    /// What the server offers (CLIENT_SSL is added when TLS is configured). Deliberately
    /// absent: COMPRESS, LOCAL_FILES (LOAD DATA LOCAL lets a server read client files),
    /// SESSION_TRACK, OPTIONAL_RESULTSET_METADATA, QUERY_ATTRIBUTES (each changes packet
    /// layouts this crate does not implement).
    pub const SERVER_DEFAULT: u32 = LONG_PASSWORD
        | FOUND_ROWS
        | LONG_FLAG
        | CONNECT_WITH_DB
        | PROTOCOL_41
        | INTERACTIVE
        | TRANSACTIONS
        | SECURE_CONNECTION
        | MULTI_STATEMENTS
        | MULTI_RESULTS
        | PS_MULTI_RESULTS
        | PLUGIN_AUTH
        | CONNECT_ATTRS
        | PLUGIN_AUTH_LENENC_CLIENT_DATA
        | DEPRECATE_EOF;
}

/// Server status flags (`SERVER_STATUS_*`, `SERVER_MORE_RESULTS_EXISTS`).
pub(crate) mod status {
    pub const IN_TRANS: u16 = 0x0001;
    pub const AUTOCOMMIT: u16 = 0x0002;
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
}

/// Command bytes (first byte of a command packet).
pub(crate) mod com {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const STATISTICS: u8 = 0x09;
    pub const PING: u8 = 0x0e;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1a;
    pub const SET_OPTION: u8 = 0x1b;
    pub const STMT_FETCH: u8 = 0x1c;
    pub const RESET_CONNECTION: u8 = 0x1f;
}

/// MySQL error codes that this crate sends itself. A backend may use them too.
pub mod codes {
    /// "Too many connections" (SQLSTATE 08004).
    pub const ER_CON_COUNT_ERROR: u16 = 1040;
    /// "Bad handshake" (SQLSTATE 08S01).
    pub const ER_HANDSHAKE_ERROR: u16 = 1043;
    /// "Access denied for user ..." (SQLSTATE 28000).
    pub const ER_ACCESS_DENIED_ERROR: u16 = 1045;
    /// "Unknown command" (SQLSTATE 08S01).
    pub const ER_UNKNOWN_COM_ERROR: u16 = 1047;
    /// "Unknown database" (SQLSTATE 42000); for backends.
    pub const ER_BAD_DB_ERROR: u16 = 1049;
    /// "Got a packet bigger than 'max_allowed_packet' bytes" (SQLSTATE 08S01).
    pub const ER_NET_PACKET_TOO_LARGE: u16 = 1153;
    /// "Incorrect arguments to mysqld_stmt_execute" (SQLSTATE HY000).
    pub const ER_WRONG_ARGUMENTS: u16 = 1210;
    /// "Unknown prepared statement handler" (SQLSTATE HY000).
    pub const ER_UNKNOWN_STMT_HANDLER: u16 = 1243;
    /// "Invalid utf8mb4 character string" (SQLSTATE HY000).
    pub const ER_INVALID_CHARACTER_STRING: u16 = 1300;
    /// "Prepared statement contains too many placeholders" (SQLSTATE 42000).
    pub const ER_PS_MANY_PARAM: u16 = 1390;
    /// "The statement has no open cursor" (SQLSTATE HY000): answer to COM_STMT_FETCH.
    pub const ER_STMT_HAS_NO_OPEN_CURSOR: u16 = 1421;
    /// "Can't create more than max_prepared_stmt_count statements" (SQLSTATE 42000).
    pub const ER_MAX_PREPARED_STMT_COUNT_REACHED: u16 = 1461;
    /// "Malformed communication packet" (SQLSTATE HY000).
    pub const ER_MALFORMED_PACKET: u16 = 1835;
    /// "Connections using insecure transport are prohibited ..." (SQLSTATE HY000).
    pub const ER_SECURE_TRANSPORT_REQUIRED: u16 = 3159;
    /// "The client was disconnected by the server because of inactivity" (SQLSTATE HY000).
    pub const ER_CLIENT_INTERACTION_TIMEOUT: u16 = 4031;
}
