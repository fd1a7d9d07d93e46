//! Switchboard: self-hosted, multi-tenant call tracking on Twilio.
//!
//! The library holds the whole service; the `switchboard` binary is a thin CLI over
//! it. Tests start the real server through [`App::start`] on an ephemeral port.
//!
//! Where things are: [`state`] (what handlers share), [`server`] (the composition
//! root: one router from the API, the webhooks and the pages, and serving it),
//! [`access`] (who may touch which tenant), [`calls`] (the call record),
//! [`call_flow`] (what a caller hears), [`web`] (the portal's pages).

pub mod access;
pub mod appointments;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod cache;
pub mod call_flow;
pub mod calls;
pub mod config;
pub mod contacts;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod error;
pub mod files;
pub mod health;
pub mod http;
pub mod intelligence;
pub mod jobs;
pub mod messaging;
pub mod notifications;
pub mod numbers;
pub mod passwords;
pub mod patch;
pub mod paths;
pub mod provisioning;
pub mod purchases;
pub mod receptionist;
pub mod retention;
pub mod routes;
pub mod serve;
pub mod server;
pub mod softphone;
pub mod state;
pub mod telemetry;
pub mod telephony;
pub mod tenants;
pub mod users;
pub mod web;

pub use server::App;
pub use state::AppState;
