//! Token service provider and token vault. A wallet holds a token, never the
//! card number; the token is bound to one device. Only the vault maps a token
//! back to the PAN ("detokenization"), and it refuses a token presented from
//! any other device.

use std::sync::{Arc, Mutex};

use crate::chaos::{CallFault, FaultLayer};

use crate::domain::fingerprint::{mix, unmix};
use crate::domain::{DeviceId, Pan, Token};
use crate::lock::Locked;

use super::component::Component;

/// The vault: token `mix(salt ^ i)` is entry `i`.
///
/// Why not a hash map from token to card: detokenization is on every card
/// payment's path, and in a vault of a few hundred thousand cards both of
/// a hash table's accesses (control byte, then bucket) are cache misses,
/// at 64 bytes a card. [`mix`] is a bijection, so the token still looks
/// random and no two cards share one, yet [`unmix`] gives back the entry's
/// index: one access, 24 bytes a card. A token the vault never issued
/// maps past the end and is refused as unknown (the entry's own token is
/// compared too, which a bijection makes redundant but keeps the refusal
/// independent of that argument).
pub struct TokenVault {
    component: Component,
    vault: Mutex<Vec<(Token, Pan, DeviceId)>>,
    salt: u64,
    /// Faults aimed at `gateway->tokens`, if any.
    inbound: Option<Arc<FaultLayer>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetokenizeError {
    UnknownToken,
    DeviceMismatch,
}

impl TokenVault {
    pub fn new(component: Component, salt: u64, inbound: Option<Arc<FaultLayer>>) -> TokenVault {
        TokenVault {
            component,
            vault: Mutex::new(Vec::new()),
            salt,
            inbound,
        }
    }

    /// Issues a device-bound token for a card (at wallet provisioning).
    pub fn provision(&self, pan: Pan, device: DeviceId) -> Token {
        let mut vault = self.vault.locked();
        let token = Token(mix(self.salt ^ vault.len() as u64));
        vault.push((token, pan, device));
        token
    }

    /// Room for `cards` more cards, so provisioning a world's wallets does
    /// not copy the vault at every doubling.
    pub fn reserve(&self, cards: usize) {
        self.vault.locked().reserve_exact(cards);
    }

    /// Maps a token back to its PAN, inside the vault, for routing, through
    /// the faults aimed at the vault.
    pub async fn detokenize(
        self: &Arc<Self>,
        token: Token,
        device: DeviceId,
    ) -> Result<Result<Pan, DetokenizeError>, CallFault> {
        self.detokenize_then(token, device, 0).await
    }

    /// [`TokenVault::detokenize`], for a caller that reads the line at
    /// address `then` as soon as the PAN is back (a table entry of its own,
    /// known before the call): the vault names it with its own entry before
    /// its sleep, so the sim executor asks for both ahead of the wake.
    pub async fn detokenize_then(
        self: &Arc<Self>,
        token: Token,
        device: DeviceId,
        then: usize,
    ) -> Result<Result<Pan, DetokenizeError>, CallFault> {
        let me = self.clone();
        crate::chaos::through(self.inbound.as_deref(), move || {
            let me = me.clone();
            async move { me.lookup(token, device, then).await }
        })
        .await
    }

    /// The index of the entry `token` names (past the end, or `usize::MAX`,
    /// for a token the vault never issued).
    fn index(&self, token: Token) -> usize {
        usize::try_from(unmix(token.0) ^ self.salt).unwrap_or(usize::MAX)
    }

    async fn lookup(
        &self,
        token: Token,
        device: DeviceId,
        then: usize,
    ) -> Result<Pan, DetokenizeError> {
        let i = self.index(token);
        // The entry's address, for the executor to fetch ahead of the wake:
        // a second, uncontended lock, as the vector may move in between.
        let entry = Component::hint_line(|| self.vault.locked().as_ptr().wrapping_add(i) as usize);
        self.component
            .serve_touching([entry, then, 0, 0], || {
                let vault = self.vault.locked();
                match vault.get(i) {
                    Some(&(issued, _, _)) if issued != token => Err(DetokenizeError::UnknownToken),
                    None => Err(DetokenizeError::UnknownToken),
                    Some(&(_, _, bound)) if bound != device => Err(DetokenizeError::DeviceMismatch),
                    Some(&(_, pan, _)) => Ok(pan),
                }
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Clock, LatencyModel, Seed};

    #[tokio::test(start_paused = true)]
    async fn token_is_refused_from_another_device() {
        let comp = Component::new("tokens", 0, LatencyModel::ZERO, 10, Seed(1), Clock::start());
        let vault = Arc::new(TokenVault::new(comp, 9, None));
        let pan = Pan::from_bin_and_account(411_111, 42);
        let token = vault.provision(pan, DeviceId(7));
        assert_eq!(vault.detokenize(token, DeviceId(7)).await, Ok(Ok(pan)));
        assert_eq!(
            vault.detokenize(token, DeviceId(8)).await,
            Ok(Err(DetokenizeError::DeviceMismatch))
        );
        assert_eq!(
            vault.detokenize(Token(token.0 ^ 1), DeviceId(7)).await,
            Ok(Err(DetokenizeError::UnknownToken))
        );
    }

    /// Every card gets its own random-looking token, and each token gives
    /// back its own card; tokens the vault never issued are unknown.
    #[tokio::test(start_paused = true)]
    async fn each_token_maps_back_to_its_own_card() {
        let comp = Component::new("tokens", 0, LatencyModel::ZERO, 10, Seed(1), Clock::start());
        let vault = Arc::new(TokenVault::new(comp, 0xfeed, None));
        vault.reserve(1_000);
        let cards: Vec<_> = (0..1_000u64)
            .map(|i| {
                let pan = Pan::from_bin_and_account(411_111, 1_000 + i);
                (vault.provision(pan, DeviceId(i)), pan, DeviceId(i))
            })
            .collect();
        let distinct: std::collections::BTreeSet<_> = cards.iter().map(|c| c.0 .0).collect();
        assert_eq!(distinct.len(), cards.len());
        assert!(
            cards.iter().all(|c| c.0 .0 > u64::from(u32::MAX)),
            "not small numbers"
        );
        for (token, pan, device) in &cards {
            assert_eq!(vault.detokenize(*token, *device).await, Ok(Ok(*pan)));
        }
        for never in [0, 1, u64::MAX, mix(0xfeed ^ 1_000)] {
            assert_eq!(
                vault.detokenize(Token(never), DeviceId(0)).await,
                Ok(Err(DetokenizeError::UnknownToken)),
                "{never}"
            );
        }
    }
}
