//! The operating system's name for the user running fundtrail: the default actor when
//! neither `--actor`, FUNDTRAIL_ACTOR nor `$USER` says who records (containers often leave
//! `$USER` unset, while the account database still knows the effective uid).

use std::ffi::CStr;

/// The first buffer for `getpwuid_r`'s strings; glibc suggests `_SC_GETPW_R_SIZE_MAX`,
/// which is 1,024 on Linux, and an entry with a long home or shell path needs more.
const FIRST_BUFFER_BYTES: usize = 1024;

/// The buffer is doubled on `ERANGE` up to this size: an account entry (name, password
/// field, gecos, home, shell) larger than 1 MiB is not one a person uses.
const MAX_BUFFER_BYTES: usize = 1 << 20;

/// The account name of the effective uid, or `None` when the account database has no
/// entry for it (a container started with a bare numeric uid) or the name is not UTF-8.
pub fn effective_user_name() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let mut buffer = vec![0u8; FIRST_BUFFER_BYTES];
    loop {
        // SAFETY: passwd is a plain C struct of pointers and integers; all zeroes is a valid
        // value, and getpwuid_r overwrites it before it is read.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: `entry` and `found` are locals, and
        // `buffer` is writable for `buffer.len()` bytes. On success `found` points at
        // `entry`, whose strings point into `buffer`.
        let code = unsafe {
            libc::getpwuid_r(
                uid,
                &mut entry,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut found,
            )
        };
        if code == libc::ERANGE && buffer.len() < MAX_BUFFER_BYTES {
            buffer.resize(buffer.len() * 2, 0);
            continue;
        }
        if code != 0 || found.is_null() || entry.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success pw_name is a NUL-terminated string inside `buffer`, which
        // outlives this borrow; it is copied out before `buffer` is dropped.
        let name = unsafe { CStr::from_ptr(entry.pw_name) };
        return name
            .to_str()
            .ok()
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_uid_has_the_name_id_reports() {
        let id = std::process::Command::new("id").arg("-un").output();
        let Some(id) = id.ok().filter(|o| o.status.success()) else {
            eprintln!("skipped: `id -un` cannot name this uid either");
            return;
        };
        let expected = String::from_utf8_lossy(&id.stdout).trim().to_string();
        assert_eq!(effective_user_name().as_deref(), Some(expected.as_str()));
    }
}
