//! Integration tests: the real server on an ephemeral port, driven over HTTP.
//!
//! Each test gets its own database: a fresh SQLite file, or, when
//! `TEST_DATABASE_URL` points at PostgreSQL, a fresh database created on it.

mod admin;
mod appointments;
mod auth;
mod bad_input;
mod browser;
mod calls;
mod cli;
mod common;
mod contract;
mod health;
mod intelligence;
mod isolation;
mod jobs;
mod messages;
mod numbers;
mod operations;
mod portal;
mod purchases;
mod receptionist;
mod security;
mod softphone;
mod telephony_config;
