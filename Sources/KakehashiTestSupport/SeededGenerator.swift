import KakehashiSimulation

/// A deterministic generator (the simulators' SplitMix64): jittered delays, shuffles and random
/// traces that are the same on every run for the same seed.
public typealias SeededGenerator = SplitMix64
