#include "shim.h"

#include <rte_prefetch.h>

uint16_t rtpbolt_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts,
                              uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, pkts, nb_pkts);
}

uint16_t rtpbolt_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **pkts,
                              uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, pkts, nb_pkts);
}

struct rte_mbuf *rtpbolt_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

void rtpbolt_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

void rtpbolt_mbuf_view(const struct rte_mbuf *m, struct rtpbolt_mbuf_view *v)
{
	v->buf_addr = m->buf_addr;
	v->pkt_len = m->pkt_len;
	v->buf_len = m->buf_len;
	v->data_off = m->data_off;
	v->data_len = m->data_len;
	v->nb_segs = m->nb_segs;
	v->refcnt = rte_mbuf_refcnt_read(m);
	rte_prefetch0((const char *)m->buf_addr + m->data_off);
}

uint32_t rtpbolt_mbuf_pkt_len(const struct rte_mbuf *m)
{
	return m->pkt_len;
}

int rtpbolt_mbuf_set_data(struct rte_mbuf *m, uint16_t data_off, uint16_t len)
{
	if (m->nb_segs != 1 || (uint32_t)data_off + len > m->buf_len)
		return -1;
	m->data_off = data_off;
	m->data_len = len;
	m->pkt_len = len;
	return 0;
}

int rtpbolt_errno(void)
{
	return rte_errno;
}

unsigned rtpbolt_lcore_id(void)
{
	return rte_lcore_id();
}

uint64_t rtpbolt_rss_hf_udp(void)
{
	return RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV6_UDP | RTE_ETH_RSS_IPV4 |
	       RTE_ETH_RSS_IPV6;
}

uint32_t rtpbolt_lcore_id_any(void)
{
	return LCORE_ID_ANY;
}
