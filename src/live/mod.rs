//! Live mode: the same stack on the wall clock, served over HTTP.
//!
//! - [`wire`]: the JSON bodies and id formats, shared by server and client;
//! - [`server`]: the hyper server in front of the gateway (`paystorm serve`);
//! - [`client`]: the HTTP transport the load generator drives it with;
//! - [`auth`]: per-merchant API keys derived from the run's seed;
//! - [`webhooks`]: webhook endpoint registrations;
//! - [`stack`]: building world and stack on a wall-clock runtime;
//! - [`run`], [`remote`], [`serve`]: the `run --live`, `load` and `serve`
//!   commands.
//!
//! Live runs are not deterministic: the operating system schedules threads
//! and sockets, and latencies are real. The checker judges them as in sim
//! mode, but the same seed does not give the same results file.

pub mod auth;
pub mod cli;
pub mod client;
pub mod remote;
pub mod run;
pub mod serve;
pub mod server;
pub mod webhooks;
pub mod wire;
