//! Build script (protos come next).
fn main() {}
