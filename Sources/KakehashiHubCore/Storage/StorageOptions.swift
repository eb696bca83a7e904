/// How hard the store's commits push to disk (`storage.sync`).
public enum StorageSync: String, Sendable, Hashable, CaseIterable {
    /// fsync at every commit: a committed batch survives power loss.
    case full
    /// fsync at checkpoints: a committed batch survives a process crash, not power loss.
    case normal
}

/// Settings of the store (`storage:` in the configuration).
public struct StorageOptions: Sendable, Hashable {
    /// Commit durability (default `full`).
    public var sync: StorageSync = .full
    /// Dead letters kept; the oldest go first.
    public var deadLetterLimit = 10_000
    /// Reader connections kept open.
    public var readers = 4
    /// Page cache of the writer connection (default 64 MiB): the pages a batch touches are
    /// spread over every series, and reading them back from the file costs a system call each.
    public var writerCacheBytes = 64 << 20

    /// The defaults.
    public init() {}
}
