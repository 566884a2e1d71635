//! (wip)
impl super::Topology { /// wip
 pub fn generated(_n: usize, _seed: u64) -> Self { Self::default_fleet() } }
