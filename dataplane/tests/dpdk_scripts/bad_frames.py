# Sends hand-made broken Ethernet frames out of argv[1] to MAC argv[2] through a packet
# socket: argv[3] is our IPv4 address, argv[4] the peer's, argv[5] a relay port with a
# table entry. Prints how many the kernel accepted.
import random, socket, struct, sys
ifname, dst_mac, us, peer, port = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
dst = bytes.fromhex(dst_mac.replace(':', ''))
src = bytes.fromhex('027700000002')
ip_us, ip_peer = socket.inet_aton(us), socket.inet_aton(peer)
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def ipv4(payload, proto=17, frag=0, ihl=5, ver=4, total=None, fix=True):
    total = 20 + len(payload) if total is None else total
    h = struct.pack('!BBHHHBBH4s4s', ver << 4 | ihl, 0, total & 0xffff, 1, frag, 64, proto, 0, ip_peer, ip_us)
    if fix: h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload
def udp(payload, sport=40000, dport=port, length=None, cs=None):
    length = 8 + len(payload) if length is None else length
    return struct.pack('!HHHH', sport, dport, length & 0xffff, 0xdead if cs is None else cs) + payload
eth = lambda et, body: dst + src + struct.pack('!H', et) + body
rtp = struct.pack('!BBHII', 0x80, 0, 1, 160, 0x5eed) + b'\0' * 160
frames = [
    dst + src,                                        # no ethertype
    eth(0x0800, b''),                                 # IPv4 with no header
    eth(0x0800, ipv4(b'')[:12]),                      # truncated IPv4 header
    eth(0x0800, ipv4(udp(rtp), ihl=15)),              # IHL past the header
    eth(0x0800, ipv4(udp(rtp), ihl=2)),               # IHL below 5
    eth(0x0800, ipv4(udp(rtp), ver=6)),               # version 6 in an IPv4 ethertype
    eth(0x0800, ipv4(udp(rtp), total=1400)),          # total length past the frame
    eth(0x0800, ipv4(udp(rtp), total=24)),            # total length cuts the UDP header
    eth(0x0800, ipv4(udp(rtp), fix=False)),           # bad IPv4 header checksum
    eth(0x0800, ipv4(udp(rtp)[:100], frag=0x2000)),   # first fragment (MF)
    eth(0x0800, ipv4(rtp[:64], frag=0x0010)),         # later fragment
    eth(0x0800, ipv4(udp(rtp, length=4))),            # UDP length below its header
    eth(0x0800, ipv4(udp(rtp, length=1000))),         # UDP length past the packet
    eth(0x0800, ipv4(udp(rtp, cs=0x1234))),           # wrong UDP checksum
    eth(0x0800, ipv4(udp(b''))),                      # empty UDP to the relay port
    eth(0x0800, ipv4(udp(b'\xff' * 3))),              # too short for RTP
    eth(0x0800, ipv4(b'\x00' * 4, proto=17)),         # UDP header cut
    eth(0x86dd, b'\x60' + b'\0' * 10),                # truncated IPv6 header
    eth(0x86dd, struct.pack('!IHBB', 6 << 28, 9000, 17, 64) + b'\0' * 32 + udp(rtp)),  # payload length past frame
    eth(0x8100, b'\x00\x01'),                         # truncated VLAN tag
    eth(0x88a8, struct.pack('!HH', 1, 0x8100) + struct.pack('!HH', 2, 0x0800) + ipv4(b'')[:8]),  # QinQ, cut
    eth(0x0800, ipv4(udp(b'\0' * 1400))),             # MTU-sized garbage to the relay port
]
rnd = random.Random(5)
for i in range(300):
    et = rnd.choice([0x0800, 0x86dd, 0x8100, 0x0806])
    body = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 1480)))
    if et == 0x0800 and body and i % 2:
        body = ipv4(udp(body[:rnd.randint(0, len(body))], length=rnd.randint(0, 2000)))
    frames.append(eth(et, body))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
sent = 0
for f in frames:
    try:
        s.send(f)
        sent += 1
    except OSError:
        pass
print(sent)
