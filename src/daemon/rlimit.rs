//! The open-files limit. Every connection (a callback, an upload, a
//! download) holds a descriptor, and a soft limit of 1024 (the usual
//! default outside systemd) made 1,100 idle connections fail with EMFILE.
//! The hard limit is what the administrator allows: the soft one is raised
//! to it at start.

/// Raises the soft `RLIMIT_NOFILE` to the hard one: the limits before and
/// after, or why it could not (a seccomp filter forbidding `setrlimit`, as
/// the systemd unit's does, where `LimitNOFILE` already set both).
pub fn raise_open_files() -> Result<(u64, u64), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur >= lim.rlim_max {
        return Ok((before, before));
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok((before, lim.rlim_cur))
}
