//! API keys with scopes. A key is `psr_` + 40 hex digits of the operating
//! system's randomness (secrets are the one place where randomness is not
//! seeded); the store keeps only its SHA-256 digest, and logs show the key's
//! public id, never the key.

use crate::error::{ApiError, Result, ServerError};
use passeur_store::{ApiKeyRecord, SqliteStore};
use rand::RngCore;
use rustc_hash::FxHashMap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::RwLock;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The app back end: read recommendations and records, write users and events.
    App,
    /// A cultural partner: write its own venues and their offers, read offers and venues.
    Partner,
    /// Operations: everything, including keys and model reloads.
    Admin,
}

impl Scope {
    /// The scope's name.
    pub fn name(self) -> &'static str {
        match self {
            Scope::App => "app",
            Scope::Partner => "partner",
            Scope::Admin => "admin",
        }
    }

    /// Parses a scope name.
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "app" => Some(Scope::App),
            "partner" => Some(Scope::Partner),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's public id.
    pub key_id: String,
    /// Its scope.
    pub scope: Scope,
    /// For partner keys, the partner.
    pub partner_id: Option<String>,
}

impl Caller {
    /// Refuses unless the caller's scope is one of `scopes` (admin always passes).
    pub fn require(&self, scopes: &[Scope]) -> Result<(), ApiError> {
        if self.scope == Scope::Admin || scopes.contains(&self.scope) {
            return Ok(());
        }
        let names: Vec<&str> = scopes.iter().map(|s| s.name()).collect();
        Err(ApiError::forbidden(format!(
            "key {} has scope {}; this needs {} (or admin)",
            self.key_id,
            self.scope.name(),
            names.join(" or ")
        )))
    }
}

/// The SHA-256 digest of a key, hex.
pub fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new key and its record: the key is shown once, the record is stored.
pub fn new_key(scope: Scope, partner_id: Option<String>, label: &str, now: i64) -> (String, ApiKeyRecord) {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("psr_{secret}");
    let record = ApiKeyRecord {
        id: format!("key-{}", &digest(&key)[..12]),
        digest: digest(&key),
        scope: scope.name().to_owned(),
        partner_id,
        label: label.to_owned(),
        created_at: now,
        revoked: false,
    };
    (key, record)
}

/// The valid keys, by digest, kept in memory and refreshed on every change.
#[derive(Debug, Default)]
pub struct KeyRing {
    by_digest: RwLock<FxHashMap<String, Caller>>,
}

impl KeyRing {
    /// Loads the store's keys.
    pub fn load(store: &SqliteStore) -> Result<KeyRing> {
        let ring = KeyRing::default();
        ring.reload(store)?;
        Ok(ring)
    }

    /// Reads the keys again.
    pub fn reload(&self, store: &SqliteStore) -> Result<()> {
        let mut map = FxHashMap::default();
        for r in store.api_keys()? {
            if r.revoked {
                continue;
            }
            let scope = Scope::parse(&r.scope)
                .ok_or_else(|| ServerError::Data(format!("API key {}: unknown scope {:?}", r.id, r.scope)))?;
            map.insert(r.digest.clone(), Caller { key_id: r.id.clone(), scope, partner_id: r.partner_id.clone() });
        }
        *self.by_digest.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    /// The caller holding `key`, if the key is valid.
    pub fn check(&self, key: &str) -> Option<Caller> {
        self.by_digest.read().unwrap_or_else(|e| e.into_inner()).get(&digest(key)).cloned()
    }

    /// Valid keys.
    pub fn len(&self) -> usize {
        self.by_digest.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no key is valid.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_hashed_and_checked_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let (key, record) = new_key(Scope::Partner, Some("p1".into()), "a partner", 0);
        assert!(key.starts_with("psr_") && key.len() == 44);
        assert_ne!(record.digest, key);
        assert!(!record.digest.contains(&key[4..]));
        store.put_api_key(&record).unwrap();
        let ring = KeyRing::load(&store).unwrap();
        let caller = ring.check(&key).unwrap();
        assert_eq!((caller.scope, caller.partner_id.as_deref()), (Scope::Partner, Some("p1")));
        assert!(ring.check("psr_0000").is_none());
        assert!(caller.require(&[Scope::App]).is_err());
        assert!(caller.require(&[Scope::Partner]).is_ok());
        assert!(store.revoke_api_key(&record.id).unwrap());
        ring.reload(&store).unwrap();
        assert!(ring.check(&key).is_none());
    }
}
