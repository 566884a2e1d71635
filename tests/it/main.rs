//! Integration tests, one binary (`cargo test --test it`). One module per area.

mod architecture;
mod config_example;
