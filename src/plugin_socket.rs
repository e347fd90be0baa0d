//! Removes tf-provider's per-call ~40 ms stall: its plugin listener lacks `TCP_NODELAY`, so small
//! gRPC frames wait for delayed ACKs (Nagle). Linux copies `TCP_NODELAY` from a listening socket
//! to the connections it accepts afterwards, and Terraform only connects once it has read the
//! handshake line from our stdout. So stdout goes through a pipe: the handshake line is held back
//! until the option is set on the listener, then forwarded to the real stdout.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, RawFd};

/// Redirects stdout through a relay thread that sets `TCP_NODELAY` on the listener named by the
/// go-plugin handshake line (`1|6|tcp|127.0.0.1:PORT|grpc|...`) before passing the line on.
/// Must be called before anything is printed. Failures leave stdout as it was.
pub fn relay_stdout_with_nodelay() -> std::io::Result<()> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: plain POSIX calls on descriptors this function owns.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let real_stdout = libc::dup(1);
        if real_stdout < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::dup2(fds[1], 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::close(fds[1]);
        let reader = File::from_raw_fd(fds[0]);
        let writer = File::from_raw_fd(real_stdout);
        std::thread::Builder::new()
            .name("stdout-relay".into())
            .spawn(move || relay(reader, writer))?;
    }
    Ok(())
}

fn relay(reader: File, mut writer: File) {
    let mut lines = BufReader::new(reader);
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if first {
            first = false;
            if let Some(addr) = handshake_address(&line) {
                match set_nodelay_on_listener(addr) {
                    Ok(true) => tracing::debug!(%addr, "TCP_NODELAY set on the plugin listener"),
                    Ok(false) => {
                        tracing::debug!(%addr, "plugin listener not found; TCP_NODELAY not set")
                    }
                    Err(e) => tracing::debug!(%addr, error = %e, "could not set TCP_NODELAY"),
                }
            }
        }
        if writer
            .write_all(line.as_bytes())
            .and_then(|_| writer.flush())
            .is_err()
        {
            return;
        }
    }
}

/// The TCP address in a go-plugin handshake line, e.g. `1|6|tcp|127.0.0.1:43121|grpc|`.
pub fn handshake_address(line: &str) -> Option<SocketAddr> {
    let mut parts = line.trim().split('|');
    let (_core, _proto, network, address) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if network != "tcp" {
        return None;
    }
    address.parse().ok()
}

/// Finds this process's listening socket bound to `addr` and sets `TCP_NODELAY` on it.
fn set_nodelay_on_listener(addr: SocketAddr) -> std::io::Result<bool> {
    let max_fd = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(64, 65_536) as RawFd;
    for fd in 3..max_fd {
        if bound_port(fd) != Some(addr.port()) || !is_listening(fd) {
            continue;
        }
        let one: libc::c_int = 1;
        // SAFETY: setsockopt on a socket descriptor we just identified, with a valid int.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        return if rc == 0 {
            Ok(true)
        } else {
            Err(std::io::Error::last_os_error())
        };
    }
    Ok(false)
}

fn bound_port(fd: RawFd) -> Option<u16> {
    // SAFETY: getsockname writes at most `len` bytes into the storage we own.
    unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if libc::getsockname(fd, &mut storage as *mut _ as *mut libc::sockaddr, &mut len) != 0 {
            return None;
        }
        match storage.ss_family as libc::c_int {
            libc::AF_INET => {
                let v4 = &*(&storage as *const _ as *const libc::sockaddr_in);
                Some(u16::from_be(v4.sin_port))
            }
            libc::AF_INET6 => {
                let v6 = &*(&storage as *const _ as *const libc::sockaddr_in6);
                Some(u16::from_be(v6.sin6_port))
            }
            _ => None,
        }
    }
}

fn is_listening(fd: RawFd) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes one int into `value`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            &mut value as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    rc == 0 && value == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_go_plugin_handshake() {
        assert_eq!(
            handshake_address("1|6|tcp|127.0.0.1:43121|grpc|MIIB\n"),
            Some("127.0.0.1:43121".parse().unwrap())
        );
        assert_eq!(handshake_address("1|6|unix|/tmp/plugin.sock|grpc|"), None);
        assert_eq!(handshake_address("hello"), None);
    }

    #[test]
    fn sets_nodelay_on_a_listener_so_accepted_sockets_inherit_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(set_nodelay_on_listener(addr).unwrap());
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(
            accepted.nodelay().unwrap(),
            "accepted socket should inherit TCP_NODELAY"
        );
    }
}
