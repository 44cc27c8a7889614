//! Background work that outlives requests: delivering the outbox.

pub mod webhook_delivery;
