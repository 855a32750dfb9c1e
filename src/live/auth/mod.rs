//! API keys: one per merchant, plus one for the harness's device simulator.
//!
//! Keys are derived, not stored: HMAC-SHA256 of the merchant's id under a
//! key made from the run's seed. A separate `paystorm load` process given the
//! same workload and seed therefore knows every merchant's key without a
//! shared file, while a server started with another seed refuses them.
//! They are test credentials for a harness, not secrets worth a vault.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::MerchantId;

/// Who a bearer key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    Merchant(MerchantId),
    /// The harness's device simulator (`POST /v1/wallet_sessions`): the
    /// customer's phone, not a merchant.
    Device,
}

/// Every key of a run, both ways.
#[derive(Clone)]
pub struct ApiKeys {
    by_key: HashMap<String, Principal>,
    merchants: Vec<String>,
    device: String,
}

impl std::fmt::Debug for ApiKeys {
    // Keys are credentials: a `{:?}` shows how many, not what.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} merchants)", self.merchants.len())
    }
}

fn derive(seed: u64, label: &str) -> String {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&seed.to_le_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(b"paystorm-api-key:");
    mac.update(label.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..20])
}

impl ApiKeys {
    /// The keys of merchants `0..merchants` for a run with this seed.
    pub fn derive(seed: u64, merchants: u32) -> ApiKeys {
        let merchants: Vec<String> = (0..merchants)
            .map(|m| format!("sk_test_{}", derive(seed, &MerchantId(m).to_string())))
            .collect();
        let device = format!("dk_test_{}", derive(seed, "device-simulator"));
        let mut by_key: HashMap<String, Principal> = merchants
            .iter()
            .enumerate()
            .map(|(m, k)| (k.clone(), Principal::Merchant(MerchantId(m as u32))))
            .collect();
        by_key.insert(device.clone(), Principal::Device);
        ApiKeys {
            by_key,
            merchants,
            device,
        }
    }

    /// Who the `Authorization` header's value speaks for, if anyone.
    pub fn principal(&self, authorization: &[u8]) -> Option<Principal> {
        let text = std::str::from_utf8(authorization).ok()?;
        let (scheme, key) = text.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        self.by_key.get(key.trim()).copied()
    }

    pub fn merchant(&self, m: MerchantId) -> Option<&str> {
        self.merchants.get(m.0 as usize).map(String::as_str)
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    /// `{"merchants": {"mer_0": "sk_test_…", …}, "device_simulator": "dk_test_…"}`,
    /// for `paystorm serve` to write beside its other outputs.
    pub fn to_json(&self) -> String {
        let merchants: serde_json::Map<String, serde_json::Value> = self
            .merchants
            .iter()
            .enumerate()
            .map(|(m, k)| (MerchantId(m as u32).to_string(), k.clone().into()))
            .collect();
        let doc = serde_json::json!({
            "merchants": merchants,
            "device_simulator": self.device,
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_seed_and_name_their_merchant() {
        let a = ApiKeys::derive(42, 3);
        let b = ApiKeys::derive(42, 3);
        let c = ApiKeys::derive(43, 3);
        assert_eq!(a.merchant(MerchantId(2)), b.merchant(MerchantId(2)));
        assert_ne!(a.merchant(MerchantId(2)), c.merchant(MerchantId(2)));
        let header = format!("Bearer {}", a.merchant(MerchantId(1)).unwrap());
        assert_eq!(
            a.principal(header.as_bytes()),
            Some(Principal::Merchant(MerchantId(1)))
        );
        assert_eq!(c.principal(header.as_bytes()), None);
        assert_eq!(a.principal(b"Basic abc"), None);
        assert_eq!(
            a.principal(format!("bearer {}", a.device()).as_bytes()),
            Some(Principal::Device)
        );
        assert!(!format!("{a:?}").contains("sk_test"));
    }
}
