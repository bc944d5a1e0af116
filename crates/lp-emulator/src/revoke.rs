//! Revoked AppJWTs: the tokens this emulator issued, and the ones a test
//! revoked, kept as SHA-256 digests (nothing here needs the token itself).

use std::collections::HashSet;
use std::sync::Mutex;

use crate::fault::lock;

type Digest = [u8; 32];

fn digest(token: &str) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[derive(Default)]
struct Sets {
    issued: HashSet<Digest>,
    revoked: HashSet<Digest>,
}

/// Which AppJWTs were issued and which of them are revoked.
#[derive(Default)]
pub(crate) struct Revocations {
    sets: Mutex<Sets>,
}

impl Revocations {
    /// Notes a token just signed.
    pub(crate) fn issued(&self, token: &str) {
        lock(&self.sets).issued.insert(digest(token));
    }

    /// Revokes `token`; `true` when this emulator had issued it.
    pub(crate) fn revoke(&self, token: &str) -> bool {
        let d = digest(token);
        let mut sets = lock(&self.sets);
        sets.revoked.insert(d);
        sets.issued.contains(&d)
    }

    /// Revokes every token issued so far and returns how many were not
    /// revoked before.
    pub(crate) fn revoke_all(&self) -> usize {
        let mut sets = lock(&self.sets);
        let Sets { issued, revoked } = &mut *sets;
        issued.iter().filter(|d| revoked.insert(**d)).count()
    }

    pub(crate) fn is_revoked(&self, token: &str) -> bool {
        lock(&self.sets).revoked.contains(&digest(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation() {
        let r = Revocations::default();
        r.issued("a");
        r.issued("b");
        assert!(r.revoke("a"));
        assert!(!r.revoke("stranger"));
        assert!(r.is_revoked("stranger"));
        let steps = [("a", true), ("b", false), ("c", false)];
        for (token, expected) in steps {
            assert_eq!(r.is_revoked(token), expected, "{token}");
        }
        r.issued("c");
        // "a" was revoked already: only "b" and "c" are new.
        assert_eq!(r.revoke_all(), 2);
        assert!(r.is_revoked("b") && r.is_revoked("c"));
        assert_eq!(r.revoke_all(), 0);
    }
}
