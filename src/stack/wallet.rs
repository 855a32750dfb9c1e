//! The customer's phone: the wallet app authenticates the customer (biometric
//! or PIN) and presents the device-bound token. It runs on the customer's side
//! of the API, so the load generator reaches it through `PaymentApi`.

use crate::domain::api::WalletPresentation;
use crate::domain::dense_table::DenseTable;
use crate::domain::{CustomerId, DeviceId, Token};

use super::component::Component;

pub struct Wallet {
    component: Component,
    failure_share: f64,
    cards: DenseTable<CustomerId, (Token, DeviceId)>,
}

/// The customer could not authenticate (or has no card in the wallet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthFailed;

impl Wallet {
    pub fn new(
        component: Component,
        failure_share: f64,
        cards: DenseTable<CustomerId, (Token, DeviceId)>,
    ) -> Wallet {
        Wallet {
            component,
            failure_share,
            cards,
        }
    }

    /// One authentication attempt on the device.
    pub async fn authenticate(
        &self,
        customer: CustomerId,
    ) -> Result<WalletPresentation, AuthFailed> {
        let failed = self.component.rng().with(|r| r.chance(self.failure_share));
        self.component
            .serve_touching([self.cards.place(customer), 0, 0, 0], || {
                match (failed, self.cards.get(customer)) {
                    (false, Some((token, device))) => Ok(WalletPresentation {
                        token: *token,
                        device: *device,
                    }),
                    _ => Err(AuthFailed),
                }
            })
            .await
    }
}
