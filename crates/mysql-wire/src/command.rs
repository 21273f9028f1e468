//! Command packets: the first byte names the command, the rest is its argument.

use crate::buf::Reader;
use crate::consts::com;
use crate::error::WireError;

/// One decoded command packet. Byte strings borrow from the payload.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command<'a> {
    Quit,
    InitDb(&'a [u8]),
    Query(&'a [u8]),
    FieldList {
        table: &'a [u8],
    },
    Statistics,
    Ping,
    StmtPrepare(&'a [u8]),
    /// COM_STMT_EXECUTE; `params` is everything after the flags byte (iteration count,
    /// NULL bitmap, types, values), decoded once the statement's parameter count is known.
    StmtExecute {
        stmt_id: u32,
        flags: u8,
        params: &'a [u8],
    },
    StmtSendLongData {
        stmt_id: u32,
        param: u16,
        data: &'a [u8],
    },
    StmtClose(u32),
    StmtReset(u32),
    SetOption(u16),
    StmtFetch(u32),
    ResetConnection,
    /// A command this server does not implement (answered with ERR 1047).
    Unsupported(u8),
}

impl<'a> Command<'a> {
    pub(crate) fn parse(payload: &'a [u8]) -> Result<Command<'a>, WireError> {
        let mut r = Reader::new(payload);
        let code = r.u8("command byte")?;
        Ok(match code {
            com::QUIT => Command::Quit,
            com::INIT_DB => Command::InitDb(r.rest()),
            com::QUERY => Command::Query(r.rest()),
            com::FIELD_LIST => {
                // table NUL wildcard; some clients omit the NUL when there is no wildcard
                let table = r
                    .nul_terminated("COM_FIELD_LIST table")
                    .unwrap_or_else(|_| r.rest());
                Command::FieldList { table }
            }
            com::STATISTICS => Command::Statistics,
            com::PING => Command::Ping,
            com::STMT_PREPARE => Command::StmtPrepare(r.rest()),
            com::STMT_EXECUTE => {
                let stmt_id = r.u32("COM_STMT_EXECUTE statement id")?;
                let flags = r.u8("COM_STMT_EXECUTE flags")?;
                Command::StmtExecute {
                    stmt_id,
                    flags,
                    params: r.rest(),
                }
            }
            com::STMT_SEND_LONG_DATA => {
                let stmt_id = r.u32("COM_STMT_SEND_LONG_DATA statement id")?;
                let param = r.u16("COM_STMT_SEND_LONG_DATA parameter id")?;
                Command::StmtSendLongData {
                    stmt_id,
                    param,
                    data: r.rest(),
                }
            }
            com::STMT_CLOSE => Command::StmtClose(r.u32("COM_STMT_CLOSE statement id")?),
            com::STMT_RESET => Command::StmtReset(r.u32("COM_STMT_RESET statement id")?),
            com::SET_OPTION => Command::SetOption(r.u16("COM_SET_OPTION option")?),
            com::STMT_FETCH => Command::StmtFetch(r.u32("COM_STMT_FETCH statement id")?),
            com::RESET_CONNECTION => Command::ResetConnection,
            other => Command::Unsupported(other),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each implemented command decodes its arguments; short packets are errors.
    #[test]
    fn commands_decode_and_short_packets_fail() {
        assert_eq!(Command::parse(&[0x03, b'S']).unwrap(), Command::Query(b"S"));
        assert_eq!(
            Command::parse(&[0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0]).unwrap(),
            Command::StmtExecute {
                stmt_id: 1,
                flags: 0,
                params: &[1, 0, 0, 0]
            }
        );
        assert_eq!(
            Command::parse(&[0x04, b't', 0, b'%']).unwrap(),
            Command::FieldList { table: b"t" }
        );
        assert_eq!(Command::parse(&[0x99]).unwrap(), Command::Unsupported(0x99));
        assert!(Command::parse(&[]).is_err());
        assert!(Command::parse(&[0x17, 1, 0]).is_err());
        assert!(Command::parse(&[0x19, 1, 0, 0]).is_err());
        assert!(Command::parse(&[0x1b, 1]).is_err());
    }
}
