//! Noticing that a client hung up while its request runs, without reading its socket.
//!
//! A front end reads nothing from a client while it handles that client's request (hyper
//! for HTTP, the MySQL connection until its statement ends), so a client that gave up
//! would only be noticed when the answer is written: after the statement, which may hold
//! the leader's single writer for as long as it runs. A [`ClientSocket`] is a copy of the
//! connection's socket that a periodic sweep asks, without reading, whether the client has
//! gone.

use std::os::fd::AsFd;
use std::sync::Arc;

use rustix::event::{PollFd, PollFlags, Timespec, poll};

/// A copy of a client's TCP socket (the same connection), used only to ask whether the
/// client has hung up. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ClientSocket(Arc<std::net::TcpStream>);

impl ClientSocket {
    /// A copy of `socket` (`None` if the process is out of file descriptors).
    pub fn of(socket: &impl AsFd) -> Option<ClientSocket> {
        let fd = socket.as_fd().try_clone_to_owned().ok()?;
        Some(ClientSocket(Arc::new(std::net::TcpStream::from(fd))))
    }

    /// Wraps a copy made by someone else (the MySQL listener makes its own).
    pub fn from_std(copy: std::net::TcpStream) -> ClientSocket {
        ClientSocket(Arc::new(copy))
    }

    /// Whether the client has closed its side of the connection or reset it. Asks the
    /// kernel (`poll` with `POLLRDHUP`, no wait), so nothing is read, and bytes the client
    /// sent before closing (a pipelined request, a TLS `close_notify`, MySQL's COM_QUIT)
    /// neither hide the close nor are consumed. A client that only shut down its sending
    /// side is taken for gone as well: hyper closes such an HTTP/1 connection, and MySQL
    /// clients do not do it while they wait for an answer. If the kernel cannot be asked,
    /// the client is not taken for gone.
    pub fn hung_up(&self) -> bool {
        let gone = PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR;
        let mut fds = [PollFd::new(&*self.0, PollFlags::RDHUP)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match poll(&mut fds, Some(&now)) {
            Ok(0) | Err(_) => false,
            Ok(_) => fds[0].revents().intersects(gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use super::*;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    fn settle() {
        std::thread::sleep(Duration::from_millis(50));
    }

    /// The property: a client that is still there, even one that sent bytes not read yet
    /// (a pipelined request), is not taken for gone; one that closed (with or without
    /// bytes sent first) or reset the connection is; and asking reads nothing.
    #[test]
    fn a_hang_up_is_noticed_without_reading() {
        // Still there, silent.
        let (client, mut server) = pair();
        let socket = ClientSocket::of(&server).unwrap();
        assert!(!socket.hung_up(), "a silent client is still there");

        // Still there, with bytes pending: not gone, and the bytes stay for the reader.
        (&client).write_all(b"next").unwrap();
        settle();
        assert!(!socket.hung_up(), "pending bytes are not a hang-up");
        let mut got = [0u8; 4];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"next", "asking took nothing");

        // Closed after sending bytes (a pipelined request, a TLS close_notify).
        (&client).write_all(b"bye").unwrap();
        drop(client);
        settle();
        assert!(socket.hung_up(), "a close behind pending bytes is noticed");
        let mut got = [0u8; 3];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"bye", "asking took nothing");

        // Closed with nothing pending.
        let (client, server) = pair();
        let socket = ClientSocket::of(&server).unwrap();
        drop(client);
        settle();
        assert!(socket.hung_up(), "a plain close is noticed");
        drop(server);

        // Reset: a client that closes with bytes it has not read sends one.
        let (client, mut server) = pair();
        let socket = ClientSocket::from_std(server.try_clone().unwrap());
        server.write_all(b"unread").unwrap();
        settle();
        drop(client);
        settle();
        assert!(socket.hung_up(), "a reset is noticed");
    }
}
