//! (stage under construction)

pub mod deploy;
