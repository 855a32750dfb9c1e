//! Where a fault is injected: a boundary between two components (the callee
//! is wrapped), or a component's own state (the gateway for a crash, a clock,
//! the event queue).

use std::fmt;

use super::plan::Kind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The merchant's request to the gateway's API.
    ClientGateway,
    /// Detokenization in the vault.
    GatewayTokens,
    /// A card network (`None`: every network).
    GatewayNetwork(Option<u8>),
    /// An issuer, from a card network or a rail (`None`: every issuer).
    NetworkIssuer(Option<u16>),
    /// The QR wallet provider.
    GatewayQr,
    /// The instant bank rail.
    GatewayBank,
    /// Webhook delivery to the merchant's endpoint.
    GatewayWebhook,
    /// The webhook event queue (its dispatcher).
    Queue,
    /// The gateway's idempotency store.
    IdempotencyStore,
    /// The gateway process (crash and restart).
    Gateway,
    /// An issuer's own clock (`None`: every issuer).
    Issuer(Option<u16>),
}

/// Every target as written, for error messages.
const SPELLINGS: &str = "client->gateway, gateway->tokens, gateway->network, gateway->network:N, network->issuer, network->issuer:N, gateway->qr, gateway->bank, gateway->webhook, queue, idempotency-store, gateway, issuer, issuer:N";

impl Target {
    pub fn parse(s: &str) -> Result<Target, String> {
        let unknown = || format!("unknown target `{s}`; known targets: {SPELLINGS}");
        let (base, index) = match s.split_once(':') {
            Some((b, i)) => (b, Some(i)),
            None => (s, None),
        };
        let number = |i: &str, max: u64| -> Result<u64, String> {
            let digits = i.trim_start_matches("iss_").trim_start_matches("net_");
            digits
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    format!("target `{s}`: `{i}` is not an index (a number such as 0, 1, 2)")
                })
        };
        Ok(match (base, index) {
            ("client->gateway", None) => Target::ClientGateway,
            ("gateway->tokens", None) => Target::GatewayTokens,
            ("gateway->network", None) => Target::GatewayNetwork(None),
            ("gateway->network", Some(i)) => Target::GatewayNetwork(Some(number(i, 255)? as u8)),
            ("network->issuer", None) => Target::NetworkIssuer(None),
            ("network->issuer", Some(i)) => {
                Target::NetworkIssuer(Some(number(i, u64::from(u16::MAX))? as u16))
            }
            ("gateway->qr", None) => Target::GatewayQr,
            ("gateway->bank", None) => Target::GatewayBank,
            ("gateway->webhook", None) => Target::GatewayWebhook,
            ("queue", None) => Target::Queue,
            ("idempotency-store", None) => Target::IdempotencyStore,
            ("gateway", None) => Target::Gateway,
            ("issuer", None) => Target::Issuer(None),
            ("issuer", Some(i)) => Target::Issuer(Some(number(i, u64::from(u16::MAX))? as u16)),
            _ => return Err(unknown()),
        })
    }

    /// Whether a fault of `kind` means something at this target.
    pub fn accepts(self, kind: Kind) -> bool {
        use Target::*;
        match kind {
            Kind::Latency | Kind::Error | Kind::Outage => matches!(
                self,
                ClientGateway
                    | GatewayTokens
                    | GatewayNetwork(_)
                    | NetworkIssuer(_)
                    | GatewayQr
                    | GatewayBank
                    | GatewayWebhook
                    | IdempotencyStore
            ),
            Kind::Partition | Kind::DropResponse | Kind::Duplicate => matches!(
                self,
                ClientGateway
                    | GatewayTokens
                    | GatewayNetwork(_)
                    | NetworkIssuer(_)
                    | GatewayQr
                    | GatewayBank
                    | GatewayWebhook
            ),
            Kind::Crash => self == Gateway,
            Kind::ClockSkew => matches!(self, Issuer(_) | IdempotencyStore),
            Kind::QueueStall => self == Queue,
            Kind::WebhookDown => self == GatewayWebhook,
        }
    }

    /// Which targets accept `kind`, for error messages.
    pub fn accepted_by(kind: Kind) -> &'static str {
        match kind {
            Kind::Latency | Kind::Error | Kind::Outage => "the call boundaries (client->gateway, gateway->tokens, gateway->network[:N], network->issuer[:N], gateway->qr, gateway->bank, gateway->webhook) and idempotency-store",
            Kind::Partition | Kind::DropResponse | Kind::Duplicate => "the call boundaries (client->gateway, gateway->tokens, gateway->network[:N], network->issuer[:N], gateway->qr, gateway->bank, gateway->webhook)",
            Kind::Crash => "gateway",
            Kind::ClockSkew => "issuer, issuer:N and idempotency-store",
            Kind::QueueStall => "queue",
            Kind::WebhookDown => "gateway->webhook",
        }
    }

    /// Whether a fault aimed at `self` hits the concrete boundary `at`
    /// (`network->issuer` hits every issuer; `network->issuer:2` only one).
    pub fn hits(self, at: Target) -> bool {
        use Target::*;
        match (self, at) {
            (GatewayNetwork(None), GatewayNetwork(_)) => true,
            (NetworkIssuer(None), NetworkIssuer(_)) => true,
            (Issuer(None), Issuer(_)) => true,
            (a, b) => a == b,
        }
    }

    /// The concrete targets a monkey may draw for `kind`: each network and
    /// issuer by index (a drawn fault names one), and the single ones.
    pub fn candidates(kind: Kind, issuers: u16, networks: u8) -> Vec<Target> {
        use Target::*;
        let mut all = vec![
            ClientGateway,
            GatewayTokens,
            GatewayQr,
            GatewayBank,
            GatewayWebhook,
            Queue,
            IdempotencyStore,
            Gateway,
        ];
        all.extend((0..networks).map(|n| GatewayNetwork(Some(n))));
        all.extend((0..issuers).map(|i| NetworkIssuer(Some(i))));
        all.extend((0..issuers).map(|i| Issuer(Some(i))));
        all.into_iter().filter(|t| t.accepts(kind)).collect()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Target::*;
        match self {
            ClientGateway => f.write_str("client->gateway"),
            GatewayTokens => f.write_str("gateway->tokens"),
            GatewayNetwork(None) => f.write_str("gateway->network"),
            GatewayNetwork(Some(n)) => write!(f, "gateway->network:{n}"),
            NetworkIssuer(None) => f.write_str("network->issuer"),
            NetworkIssuer(Some(i)) => write!(f, "network->issuer:{i}"),
            GatewayQr => f.write_str("gateway->qr"),
            GatewayBank => f.write_str("gateway->bank"),
            GatewayWebhook => f.write_str("gateway->webhook"),
            Queue => f.write_str("queue"),
            IdempotencyStore => f.write_str("idempotency-store"),
            Gateway => f.write_str("gateway"),
            Issuer(None) => f.write_str("issuer"),
            Issuer(Some(i)) => write!(f, "issuer:{i}"),
        }
    }
}

impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_round_trips() {
        for s in SPELLINGS.split(", ") {
            let s = s.replace(":N", ":3");
            let t = Target::parse(&s).unwrap();
            assert_eq!(t.to_string(), s);
        }
        assert_eq!(
            Target::parse("network->issuer:iss_2"),
            Ok(Target::NetworkIssuer(Some(2)))
        );
    }

    #[test]
    fn a_wildcard_hits_every_instance() {
        assert!(Target::NetworkIssuer(None).hits(Target::NetworkIssuer(Some(3))));
        assert!(!Target::NetworkIssuer(Some(1)).hits(Target::NetworkIssuer(Some(3))));
        assert!(!Target::GatewayQr.hits(Target::GatewayBank));
    }
}
