//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds the
//! migration files at compile time, and without this an incremental build kept the set
//! it saw first (a new migration file changes no Rust source).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
