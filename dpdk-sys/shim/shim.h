/*
 * rtpbolt's view of DPDK: the headers bindgen reads, plus exported wrappers for the
 * `static inline` functions and thread-local variables that have no symbol to link to.
 * Every wrapper is a plain call or field access; the fast path pays one call each.
 */
#ifndef RTPBOLT_DPDK_SHIM_H
#define RTPBOLT_DPDK_SHIM_H

#include <stdint.h>
#include <errno.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

uint16_t rtpbolt_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts,
                              uint16_t nb_pkts);
uint16_t rtpbolt_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts,
                              uint16_t nb_pkts);

struct rte_mbuf *rtpbolt_pktmbuf_alloc(struct rte_mempool *mp);
void rtpbolt_pktmbuf_free(struct rte_mbuf *m);

/* What the fast path needs of a received mbuf, in one call rather than one per field. */
struct rtpbolt_mbuf_view {
	void *buf_addr; /* the whole data buffer: headroom, data and tailroom */
	uint32_t pkt_len;
	uint16_t buf_len;
	uint16_t data_off;
	uint16_t data_len;
	uint16_t nb_segs;
	uint16_t refcnt;
};
/* Fills *v and prefetches the frame's first cache line, so a caller that views a whole
 * burst before parsing it finds the headers in cache. */
void rtpbolt_mbuf_view(const struct rte_mbuf *m, struct rtpbolt_mbuf_view *v);
uint32_t rtpbolt_mbuf_pkt_len(const struct rte_mbuf *m);
/* Makes a single-segment mbuf hold buf[data_off..data_off + len]; -1 (and no change) if
 * it has more segments or the range leaves its buffer. */
int rtpbolt_mbuf_set_data(struct rte_mbuf *m, uint16_t data_off, uint16_t len);

/* rte_errno is a per-lcore (thread-local) variable. */
int rtpbolt_errno(void);
unsigned rtpbolt_lcore_id(void);

/* RTE_ETH_RSS_* are function-like macros (RTE_BIT64), which bindgen cannot evaluate. */
uint64_t rtpbolt_rss_hf_udp(void);
/* Its value as a plain constant for the same reason. */
uint32_t rtpbolt_lcore_id_any(void);

#endif
