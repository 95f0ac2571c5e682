//! systemd's notify protocol (`Type=notify`) through the `sd-notify` crate:
//! READY=1 once serving, WATCHDOG=1 while healthy, STOPPING=1 on the way
//! out. Without `$NOTIFY_SOCKET` (not under systemd) nothing is sent.

use std::time::Duration;

pub use sd_notify::NotifyState;

/// Sends one notification; `false` when not under systemd or it failed.
pub fn send(state: NotifyState<'_>) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    match std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).strip_prefix(b"@") {
        // An abstract socket (Linux), which systemd allows and the crate
        // does not connect to.
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
                return false;
            };
            std::os::unix::net::SocketAddr::from_abstract_name(name)
                .and_then(|addr| sock.send_to_addr(format!("{state}\n").as_bytes(), &addr))
                .is_ok()
        }
        None => sd_notify::notify(&[state]).is_ok(),
    }
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC`, if it is ours.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}
