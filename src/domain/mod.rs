//! The vocabulary every other part of paystorm speaks: money, identifiers, card
//! data, the payment state machine, the API's request and reply shapes, and the
//! two records an outside auditor sees — the clients' history and the stack's
//! audit trail.
//!
//! Dependency rule: `domain` imports nothing else of the crate. The history and
//! audit types live here so that the clients can write them and the checker can
//! read them without either importing the stack.

pub mod account_map;
pub mod api;
pub mod audit;
pub mod card;
pub mod dense_table;
pub mod fees;
pub mod fingerprint;
pub mod history;
pub mod home_map;
pub mod ids;
pub mod money;
pub mod payment;

pub use api::{ApiError, ApiReply, Operation, Served};
pub use card::{DeviceId, Pan, Token};
pub use fees::{FeeSchedule, FeeTable};
pub use ids::*;
pub use money::{Currency, Money};
pub use payment::{CaptureMode, CreateParams, DeclineReason, Method, PaymentView, Rail, Status};
