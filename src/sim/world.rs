//! Makes the world a run starts with, from the workload's population and the
//! seed: which bank each customer banks with, their card's network and number,
//! their device, opening balance and credit line; each merchant's webhook
//! secret and whether its endpoint is down.

use crate::domain::fingerprint::mix;
use crate::domain::{CustomerId, DeviceId, IssuerId, MerchantId, NetworkId, Pan};
use crate::load::spec::Population;
use crate::stack::config::StackConfig;
use crate::stack::world::{CustomerSetup, MerchantSetup, World};

use super::rng::{LogNormal, Seed};

pub fn make_world(pop: &Population, stack: &StackConfig, seed: Seed) -> World {
    let mut rng = seed.stream("world", 0);
    let networks = stack.networks.first_digits.len().max(1) as u64;
    let issuers = u64::from(stack.issuers.count.max(1));
    let balances = LogNormal::from_p50_p99(
        pop.balance_p50_minor.max(1) as f64,
        pop.balance_p99_minor.max(1) as f64,
    );
    let customers = (0..pop.customers)
        .map(|i| {
            let issuer = rng.below(issuers) as u16;
            let network = rng.below(networks) as u8;
            let digit = stack.networks.first_digits[usize::from(network)];
            let bin = digit * 100_000 + u32::from(issuer) * 1000 + rng.below(1000) as u32;
            let opening = if rng.chance(pop.short_of_funds_share) {
                rng.below(1_000) as i64
            } else {
                balances.sample(&mut rng).round() as i64
            };
            CustomerSetup {
                id: CustomerId(i),
                issuer: IssuerId(issuer),
                network: NetworkId(network),
                pan: Pan::from_bin_and_account(bin, rng.below(1_000_000_000)),
                device: DeviceId(mix(seed.0 ^ 0xdead_beef ^ u64::from(i))),
                opening_minor: opening,
                credit_limit_minor: pop.credit_limit_minor,
            }
        })
        .collect();
    // A fixed number of merchants have their endpoint down (rounded share),
    // so small runs still exercise the dead-letter queue when asked to.
    let down =
        (stack.webhooks.endpoint.down_merchant_share * f64::from(pop.merchants)).round() as u32;
    let merchants = (0..pop.merchants)
        .map(|i| {
            let mut secret = [0u8; 32];
            for (k, chunk) in secret.chunks_mut(8).enumerate() {
                chunk.copy_from_slice(&mix(seed.0 ^ (u64::from(i) << 8) ^ k as u64).to_le_bytes());
            }
            MerchantSetup {
                id: MerchantId(i),
                // The least popular merchants (highest ids) are the ones down.
                endpoint_down: i >= pop.merchants - down,
                webhook_secret: secret,
            }
        })
        .collect();
    World {
        customers,
        merchants,
    }
}
