#ifndef KAKEHASHI_MOSQUITTO_BASELINE_H
#define KAKEHASHI_MOSQUITTO_BASELINE_H
#include <stdint.h>

/// The benchmark baseline: a minimal C loop over libmosquitto. A subscriber thread counts messages
/// on `topic` while a publisher sends `count` copies of `payload` at `qos`, keeping up to
/// `inflight` unacknowledged. Returns 0 on success, or a libmosquitto error code.
/// `received` gets the messages counted, `elapsed_ns` the time from the first publish to the last
/// message received (or to the timeout).
int kk_baseline_run(const char *host, int port, const char *topic, const void *payload, int payload_length,
                    int count, int qos, int inflight, int timeout_ms, int *received, int64_t *elapsed_ns);

#endif
