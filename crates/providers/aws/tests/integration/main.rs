//! Integration tests of the `aws` provider against the real local AWS endpoint (moto behind our test layer) and
//! the real local apiserver. One cluster and one shared endpoint per test binary; tests that count calls exactly,
//! inject faults or configure the IRSA verifier start an endpoint of their own.

// Set-up helpers outside `#[test]` functions stop the test with a message, as `expect` does inside them.
#![allow(clippy::expect_used, clippy::panic)]

mod common;
mod faults;
mod identities;
mod least_privilege;
mod parameter_store;
mod secrets_manager;
