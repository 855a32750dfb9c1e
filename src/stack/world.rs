//! The people and banks a run starts with: customers (their bank, card,
//! device, opening balance and credit line) and merchants. Built by the run
//! driver from the workload's population and the seed, then handed to the
//! stack, which opens the accounts and provisions the tokens.

use crate::domain::{CustomerId, DeviceId, IssuerId, MerchantId, NetworkId, Pan};

#[derive(Clone, Copy, Debug)]
pub struct CustomerSetup {
    pub id: CustomerId,
    pub issuer: IssuerId,
    pub network: NetworkId,
    pub pan: Pan,
    pub device: DeviceId,
    pub opening_minor: i64,
    pub credit_limit_minor: i64,
}

#[derive(Clone, Copy, Debug)]
pub struct MerchantSetup {
    pub id: MerchantId,
    /// The merchant's webhook endpoint is down for the whole run.
    pub endpoint_down: bool,
    /// Secret the merchant shares with the gateway to check webhook signatures.
    pub webhook_secret: [u8; 32],
}

#[derive(Clone, Debug, Default)]
pub struct World {
    pub customers: Vec<CustomerSetup>,
    pub merchants: Vec<MerchantSetup>,
}
