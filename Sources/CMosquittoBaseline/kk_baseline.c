#include "kk_baseline.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

struct subscriber {
    struct mosquitto *mosq;
    const char *topic;
    int qos;
    int expected;
    int64_t deadline;
    atomic_int subscribed;
    atomic_int received;
    atomic_llong last_ns;
};

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted) {
    (void)m; (void)mid; (void)n; (void)granted;
    atomic_store(&((struct subscriber *)obj)->subscribed, 1);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg) {
    (void)m; (void)msg;
    struct subscriber *s = obj;
    atomic_fetch_add(&s->received, 1);
    atomic_store(&s->last_ns, now_ns());
}

static void *subscriber_loop(void *arg) {
    struct subscriber *s = arg;
    while (atomic_load(&s->received) < s->expected && now_ns() < s->deadline) {
        if (mosquitto_loop(s->mosq, 10, 1) != MOSQ_ERR_SUCCESS) break;
    }
    return NULL;
}

struct publisher {
    atomic_int acked;
};

static void on_publish(struct mosquitto *m, void *obj, int mid) {
    (void)m; (void)mid;
    atomic_fetch_add(&((struct publisher *)obj)->acked, 1);
}

int kk_baseline_run(const char *host, int port, const char *topic, const void *payload, int payload_length,
                    int count, int qos, int inflight, int timeout_ms, int *received, int64_t *elapsed_ns) {
    mosquitto_lib_init();
    struct subscriber sub;
    memset(&sub, 0, sizeof sub);
    sub.topic = topic;
    sub.qos = qos;
    sub.expected = count;
    sub.mosq = mosquitto_new(NULL, true, &sub);
    struct publisher pub;
    atomic_store(&pub.acked, 0);
    struct mosquitto *pmosq = mosquitto_new(NULL, true, &pub);
    if (!sub.mosq || !pmosq) return MOSQ_ERR_NOMEM;
    mosquitto_int_option(sub.mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(pmosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(pmosq, MOSQ_OPT_SEND_MAXIMUM, inflight);
    mosquitto_int_option(sub.mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_int_option(pmosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_subscribe_callback_set(sub.mosq, on_subscribe);
    mosquitto_message_callback_set(sub.mosq, on_message);
    mosquitto_publish_callback_set(pmosq, on_publish);

    int rc = mosquitto_connect(sub.mosq, host, port, 60);
    if (rc) return rc;
    rc = mosquitto_connect(pmosq, host, port, 60);
    if (rc) return rc;
    mosquitto_subscribe(sub.mosq, NULL, topic, qos);
    while (!atomic_load(&sub.subscribed)) {
        rc = mosquitto_loop(sub.mosq, 10, 1);
        if (rc) return rc;
        mosquitto_loop(pmosq, 0, 1);
    }

    int64_t start = now_ns();
    sub.deadline = start + (int64_t)timeout_ms * 1000000LL;
    pthread_t thread;
    pthread_create(&thread, NULL, subscriber_loop, &sub);

    int sent = 0;
    while (atomic_load(&pub.acked) < count && now_ns() < sub.deadline) {
        while (sent < count && sent - atomic_load(&pub.acked) < inflight) {
            rc = mosquitto_publish(pmosq, NULL, topic, payload_length, payload, qos, false);
            if (rc) break;
            sent++;
        }
        if (mosquitto_loop(pmosq, 1, 1) != MOSQ_ERR_SUCCESS) break;
    }
    pthread_join(thread, NULL);
    int64_t last = atomic_load(&sub.last_ns);
    *received = atomic_load(&sub.received);
    *elapsed_ns = (*received >= count && last > start) ? last - start : now_ns() - start;
    mosquitto_disconnect(pmosq);
    mosquitto_disconnect(sub.mosq);
    mosquitto_destroy(pmosq);
    mosquitto_destroy(sub.mosq);
    return 0;
}
