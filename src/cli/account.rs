//! The operating system's name for the user running fundtrail: the default actor when
//! neither `--actor`, FUNDTRAIL_ACTOR nor `$USER` says who records (containers often leave
//! `$USER` unset, while the account database still knows the effective uid).

/// The account name of the effective uid, or `None` when the account database has no
/// entry for it (a container started with a bare numeric uid) or the name is empty.
pub fn effective_user_name() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::effective())
        .ok()
        .flatten()
        .map(|user| user.name)
        .filter(|name| !name.is_empty())
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
