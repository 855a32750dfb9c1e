//! Who pays whom, how, and how much: the draws every payment starts with,
//! shared by live journeys and `paystorm trace synth` so both make the same
//! traffic from the same workload.
//!
//! Merchants have Zipf-like popularity (merchant k weighs 1/(k+1)^s) and a
//! category; amounts are log-normal per category (by median and 99th
//! percentile), or from `[amounts]` when no categories are given. A share of
//! attempts carries a fraud-looking amount above the gateway's limit.

use crate::domain::Method;
use crate::sim::rng::LogNormal;
use crate::sim::SimRng;
use crate::workload::Workload;

use super::spec::{Amounts, Mix, Population};

/// One payment's draws.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Draw {
    pub method: Method,
    pub merchant: u32,
    pub customer: u32,
    pub amount_minor: i64,
}

#[derive(Clone, Debug)]
pub struct Traffic {
    method_cumulative: Vec<f64>,
    merchant_cumulative: Vec<f64>,
    /// The amount distribution of each merchant (by its category).
    merchant_amounts: Vec<LogNormal>,
    customers: u32,
    fraud_share: f64,
    fraud_amount_minor: i64,
}

impl Traffic {
    pub fn new(
        mix: &Mix,
        population: &Population,
        amounts: &Amounts,
        fraud_amount_minor: i64,
    ) -> Traffic {
        let merchants = population.merchants.max(1);
        let global = LogNormal::from_p50_p99(amounts.p50_minor as f64, amounts.p99_minor as f64);
        // Categories take merchants in proportion to their share; merchants
        // are dealt round the categories by cumulative share, so popular and
        // quiet merchants are found in every category.
        let category_cumulative = cumulative(amounts.categories.iter().map(|c| c.merchant_share));
        let merchant_amounts = (0..merchants)
            .map(|k| {
                if amounts.categories.is_empty() {
                    return global;
                }
                let x = golden_fraction(k) * category_cumulative.last().copied().unwrap_or(1.0);
                let i = category_cumulative
                    .iter()
                    .position(|c| x < *c)
                    .unwrap_or(amounts.categories.len() - 1);
                let c = &amounts.categories[i];
                LogNormal::from_p50_p99(c.p50_minor as f64, c.p99_minor as f64)
            })
            .collect();
        Traffic {
            method_cumulative: cumulative(mix.shares().iter().map(|(_, s)| *s)),
            merchant_cumulative: cumulative(
                (0..merchants).map(|k| 1.0 / f64::from(k + 1).powf(population.merchant_zipf_s)),
            ),
            merchant_amounts,
            customers: population.customers.max(1),
            fraud_share: amounts.fraud_share,
            fraud_amount_minor,
        }
    }

    pub fn from_workload(w: &Workload) -> Traffic {
        let f = &w.file;
        Traffic::new(
            &f.mix,
            &f.population,
            &f.amounts,
            f.stack.gateway.fraud.amount_max_minor.saturating_mul(2),
        )
    }

    /// The draws, always in the same order (method, merchant, customer,
    /// fraud, amount), so a stream stays aligned whatever is used.
    pub fn draw(&self, rng: &mut SimRng) -> Draw {
        let method = Method::ALL[rng.pick_cumulative(&self.method_cumulative)];
        let merchant = rng.pick_cumulative(&self.merchant_cumulative) as u32;
        let customer = rng.below(u64::from(self.customers)) as u32;
        let amount_minor = if rng.chance(self.fraud_share) {
            self.fraud_amount_minor
        } else {
            (self.merchant_amounts[merchant as usize].sample(rng).round() as i64).max(1)
        };
        Draw {
            method,
            merchant,
            customer,
            amount_minor,
        }
    }
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    weights
        .map(|w| {
            acc += w;
            acc
        })
        .collect()
}

/// A low-discrepancy point in [0, 1) for merchant k (the golden-ratio
/// sequence): spreads categories evenly over popularity ranks, no RNG needed.
fn golden_fraction(k: u32) -> f64 {
    (f64::from(k) * 0.618_033_988_749_895).fract()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::spec::Category;
    use crate::sim::Seed;

    fn amounts(categories: Vec<Category>) -> Amounts {
        Amounts {
            categories,
            fraud_share: 0.0,
            ..Amounts::default()
        }
    }

    #[test]
    fn categories_give_each_merchant_its_own_amounts() {
        let cats = vec![
            Category {
                name: "grocery".into(),
                merchant_share: 0.5,
                p50_minor: 2_000,
                p99_minor: 10_000,
            },
            Category {
                name: "electronics".into(),
                merchant_share: 0.5,
                p50_minor: 50_000,
                p99_minor: 300_000,
            },
        ];
        let pop = Population {
            merchants: 100,
            ..Population::default()
        };
        let t = Traffic::new(&Mix::default(), &pop, &amounts(cats), 1);
        let medians: Vec<f64> = t.merchant_amounts.iter().map(|l| l.median()).collect();
        let grocery = medians
            .iter()
            .filter(|m| (**m - 2_000.0).abs() < 1.0)
            .count();
        let electronics = medians
            .iter()
            .filter(|m| (**m - 50_000.0).abs() < 1.0)
            .count();
        assert_eq!(grocery + electronics, 100);
        assert!((45..=55).contains(&grocery), "{grocery}");
        // The ten most popular merchants are not all of one category.
        let top: Vec<f64> = medians[..10].to_vec();
        assert!(top.iter().any(|m| *m < 10_000.0) && top.iter().any(|m| *m > 10_000.0));
    }

    #[test]
    fn without_categories_every_merchant_uses_the_global_amounts() {
        let t = Traffic::new(&Mix::default(), &Population::default(), &amounts(vec![]), 1);
        assert!(t
            .merchant_amounts
            .iter()
            .all(|l| (l.median() - 4_500.0).abs() < 1e-6));
        let mut rng = Seed(1).stream("t", 0);
        let d = t.draw(&mut rng);
        assert!(d.amount_minor >= 1 && d.merchant < 50);
    }
}
