#ifndef KAKEHASHI_CBLUEZ_SHIM_H
#define KAKEHASHI_CBLUEZ_SHIM_H
#include <stdint.h>
#include <sys/socket.h>
#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>
#include <bluetooth/hci_lib.h>

/* BlueZ byte-order helpers are macros that Swift cannot import; these wrap them. */
static inline uint16_t kk_htobs(uint16_t v) { return htobs(v); }
static inline uint16_t kk_btohs(uint16_t v) { return btohs(v); }
static inline uint32_t kk_htobl(uint32_t v) { return htobl(v); }
static inline uint32_t kk_btohl(uint32_t v) { return btohl(v); }

/* HCI socket filter helpers (macros/inline functions in hci_lib.h, wrapped for a stable import). */
static inline void kk_hci_filter_clear(struct hci_filter *f) { hci_filter_clear(f); }
static inline void kk_hci_filter_set_ptype(int t, struct hci_filter *f) { hci_filter_set_ptype(t, f); }
static inline void kk_hci_filter_set_event(int e, struct hci_filter *f) { hci_filter_set_event(e, f); }
/* Whether an adapter's flags say it is up (hci_test_bit is an inline helper over a bit array). */
static inline int kk_hci_dev_is_up(struct hci_dev_info *info) { return hci_test_bit(HCI_UP, &info->flags); }
#endif
