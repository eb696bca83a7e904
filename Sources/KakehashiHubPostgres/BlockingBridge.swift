import Foundation
import Synchronization

/// Runs async work to completion for a synchronous caller, on a thread of its own.
///
/// The hub decides every request with synchronous access records (``AccessRecords``); over
/// PostgreSQL their work is async (postgres-nio). Waiting for a task that runs on the shared
/// cooperative pool from a thread of that pool could deadlock on two cores (both threads
/// waiting, nothing left to run the task), so the task runs on this bridge's own thread (a task
/// executor preference) over a connection whose I/O is on NIO's event loops: it never needs
/// the pool. Calls are serialised: one connection, one transaction at a time.
final class BlockingBridge: @unchecked Sendable {
    private let executor: ThreadExecutor
    private let serial = NSLock()

    init(name: String) {
        executor = ThreadExecutor(name: name)
    }

    /// Runs `body` and waits for its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        serial.lock()
        defer { serial.unlock() }
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<T, any Error>?>(nil)
        Task(executorPreference: executor) {
            let outcome: Result<T, any Error>
            do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }

    /// Ends the thread once the work given so far has run.
    func stop() { executor.stop() }
}

/// A task executor with one thread of its own.
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init(name: String) {
        let thread = Thread { [self] in
            while let job = next() { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
        thread.name = name
        thread.start()
    }

    private func next() -> UnownedJob? {
        condition.lock()
        defer { condition.unlock() }
        while jobs.isEmpty && !stopped { condition.wait() }
        return jobs.isEmpty ? nil : jobs.removeFirst()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }
}
