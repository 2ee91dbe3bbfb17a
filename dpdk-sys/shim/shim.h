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

/* The mbuf's whole data buffer: headroom, data and tailroom. */
void *rtpbolt_mbuf_buf_addr(const struct rte_mbuf *m);
uint16_t rtpbolt_mbuf_buf_len(const struct rte_mbuf *m);
uint16_t rtpbolt_mbuf_data_off(const struct rte_mbuf *m);
uint16_t rtpbolt_mbuf_data_len(const struct rte_mbuf *m);
uint32_t rtpbolt_mbuf_pkt_len(const struct rte_mbuf *m);
uint16_t rtpbolt_mbuf_nb_segs(const struct rte_mbuf *m);
uint16_t rtpbolt_mbuf_refcnt(const struct rte_mbuf *m);
/* Makes a single-segment mbuf hold buf[data_off..data_off + len]. */
void rtpbolt_mbuf_set_data(struct rte_mbuf *m, uint16_t data_off, uint16_t len);

/* rte_errno is a per-lcore (thread-local) variable. */
int rtpbolt_errno(void);
unsigned rtpbolt_lcore_id(void);

/* RTE_ETH_RSS_* are function-like macros (RTE_BIT64), which bindgen cannot evaluate. */
uint64_t rtpbolt_rss_hf_udp(void);
/* Its value as a plain constant for the same reason. */
uint32_t rtpbolt_lcore_id_any(void);

#endif
