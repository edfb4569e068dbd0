//! The hostile-input suite: one regression test per finding of the attack review (issue 10),
//! driven through the router or a real listener. Each module owns one class of problem:
//! `data` (records, limits, concurrency, permissions on set settings, bulk atomicity),
//! `pixels` (corrupt and hostile slides, render budgets), `net` (file names, logins,
//! connections, sessions and what responses reveal).

#[path = "../kit/mod.rs"]
mod kit;

mod data;
mod net;
mod pixels;
