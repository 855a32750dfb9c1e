//! Token service provider and token vault. A wallet holds a token, never the
//! card number; the token is bound to one device. Only the vault maps a token
//! back to the PAN ("detokenization"), and it refuses a token presented from
//! any other device.

use std::sync::{Arc, Mutex};

use crate::chaos::{CallFault, FaultLayer};

use crate::domain::fingerprint::{mix, FxHashMap};
use crate::domain::{DeviceId, Pan, Token};
use crate::lock::Locked;

use super::component::Component;

pub struct TokenVault {
    component: Component,
    vault: Mutex<FxHashMap<Token, (Pan, DeviceId)>>,
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
            vault: Mutex::new(FxHashMap::default()),
            salt,
            inbound,
        }
    }

    /// Issues a device-bound token for a card (at wallet provisioning).
    pub fn provision(&self, pan: Pan, device: DeviceId) -> Token {
        let mut vault = self.vault.locked();
        let mut candidate = mix(self.salt ^ device.0 ^ u64::from(pan.last4()));
        // Tokens are random-looking and unique; probe on the rare collision.
        while vault.contains_key(&Token(candidate)) {
            candidate = mix(candidate);
        }
        vault.insert(Token(candidate), (pan, device));
        Token(candidate)
    }

    /// Maps a token back to its PAN, inside the vault, for routing, through
    /// the faults aimed at the vault.
    pub async fn detokenize(
        self: &Arc<Self>,
        token: Token,
        device: DeviceId,
    ) -> Result<Result<Pan, DetokenizeError>, CallFault> {
        let me = self.clone();
        crate::chaos::through(self.inbound.as_deref(), move || {
            let me = me.clone();
            async move { me.lookup(token, device).await }
        })
        .await
    }

    async fn lookup(&self, token: Token, device: DeviceId) -> Result<Pan, DetokenizeError> {
        self.component
            .serve(|| match self.vault.locked().get(&token) {
                None => Err(DetokenizeError::UnknownToken),
                Some((_, bound)) if *bound != device => Err(DetokenizeError::DeviceMismatch),
                Some((pan, _)) => Ok(*pan),
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
}
