//! The issuer's money movements: stand-in advices, fronting and paying
//! back, and how an advice and a repeated authorization move money once.
use std::sync::Arc;

use super::*;
use crate::domain::Currency;
use crate::sim::{Clock, LatencyModel, Seed};
use crate::stack::ledger::testing::Journal;

const C: CustomerId = CustomerId(7);

/// An issuer whose customer 7 has 1,000 available (floor 0).
fn issuer(journal: &Arc<Journal>) -> Arc<Issuer> {
    let clock = Clock::start();
    let ledger = Arc::new(Ledger::new(Currency::USD, journal.clone(), clock));
    let comp = Component::new("issuer", 0, LatencyModel::ZERO, 10, Seed(1), clock);
    let cfg = IssuersConfig {
        risk_decline_share: 0.0,
        ..IssuersConfig::default()
    };
    let i = Issuer::new(IssuerId(0), comp, cfg, ledger, Sabotages::NONE);
    i.open_account(C, 1_000, 0);
    Arc::new(i.with_faults(None, Skew::none(), true))
}

fn auth(payment: u64, amount_minor: i64) -> AuthRequest {
    AuthRequest {
        payment: PaymentId(payment),
        customer: C,
        amount_minor,
        key: None,
        capture: false,
    }
}

fn balance(journal: &Journal, account: Account) -> i64 {
    journal.balance(account)
}

#[tokio::test(start_paused = true)]
async fn an_advice_beyond_the_balance_is_fronted_and_a_release_returns_it() {
    let journal = Arc::new(Journal::default());
    let i = issuer(&journal);
    // The issuer would decline it; an advice places it anyway.
    assert_eq!(
        i.receive(IssuerMsg::Auth(auth(1, 1_500))).await,
        Ok(IssuerReply::Declined(DeclineReason::InsufficientFunds))
    );
    assert_eq!(
        i.receive(IssuerMsg::Advice(auth(2, 1_500))).await,
        Ok(IssuerReply::Done)
    );
    assert_eq!(i.exposure_minor(), 500);
    assert_eq!(balance(&journal, Account::CustomerAvailable(C)), 0);
    assert_eq!(balance(&journal, Account::IssuerStandIn(IssuerId(0))), -500);
    let release = IssuerMsg::Release {
        payment: PaymentId(2),
        key: None,
    };
    assert_eq!(i.receive(release).await, Ok(IssuerReply::Done));
    assert_eq!(i.exposure_minor(), 0, "the issuer's money went back first");
    assert_eq!(balance(&journal, Account::CustomerAvailable(C)), 1_000);
    assert_eq!(balance(&journal, Account::IssuerStandIn(IssuerId(0))), 0);
    for e in journal.0.locked().iter() {
        assert_eq!(e.legs().iter().map(|l| l.minor).sum::<i64>(), 0, "{e:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_partial_capture_of_a_fronted_hold_repays_the_issuer_before_the_customer() {
    let journal = Arc::new(Journal::default());
    let i = issuer(&journal);
    i.receive(IssuerMsg::Advice(auth(3, 1_500))).await.unwrap();
    let capture = IssuerMsg::Capture {
        payment: PaymentId(3),
        amount_minor: 1_200,
        key: None,
    };
    assert_eq!(i.receive(capture).await, Ok(IssuerReply::Done));
    // 300 come back: all of it to the issuer, which fronted 500.
    assert_eq!(i.exposure_minor(), 200);
    assert_eq!(balance(&journal, Account::CustomerAvailable(C)), 0);
    assert_eq!(
        balance(&journal, Account::IssuerSettlement(IssuerId(0))),
        1_200
    );
}

#[tokio::test(start_paused = true)]
async fn an_advice_overrides_a_decline_whose_answer_was_lost() {
    let journal = Arc::new(Journal::default());
    let i = issuer(&journal);
    // The issuer declined, but the network never heard (a lost
    // answer) and stood in; its approval binds the issuer.
    assert_eq!(
        i.receive(IssuerMsg::Auth(auth(5, 1_200))).await,
        Ok(IssuerReply::Declined(DeclineReason::InsufficientFunds))
    );
    assert_eq!(
        i.receive(IssuerMsg::Advice(auth(5, 1_200))).await,
        Ok(IssuerReply::Done)
    );
    assert_eq!(balance(&journal, Account::CustomerHold(C)), 1_200);
    assert_eq!(i.exposure_minor(), 200);
    // A late copy of the authorization gets the approval, no second hold.
    assert_eq!(
        i.receive(IssuerMsg::Auth(auth(5, 1_200))).await,
        Ok(IssuerReply::Done)
    );
    assert_eq!(balance(&journal, Account::CustomerHold(C)), 1_200);
}

#[tokio::test(start_paused = true)]
async fn an_advice_of_an_approved_authorization_moves_no_money() {
    let journal = Arc::new(Journal::default());
    let i = issuer(&journal);
    i.receive(IssuerMsg::Auth(auth(6, 100))).await.unwrap();
    assert_eq!(
        i.receive(IssuerMsg::Advice(auth(6, 100))).await,
        Ok(IssuerReply::Done)
    );
    assert_eq!(balance(&journal, Account::CustomerHold(C)), 100);
}

#[tokio::test(start_paused = true)]
async fn an_advice_and_a_repeat_of_its_authorization_move_money_once() {
    let journal = Arc::new(Journal::default());
    let i = issuer(&journal);
    i.receive(IssuerMsg::Advice(auth(4, 100))).await.unwrap();
    // The gateway, reconciling, asks again with the authorization.
    assert_eq!(
        i.receive(IssuerMsg::Auth(auth(4, 100))).await,
        Ok(IssuerReply::Done)
    );
    assert_eq!(balance(&journal, Account::CustomerHold(C)), 100);
}
