# Phone B listens on argv[2]; phone A sends (IPv4 or IPv6 `[addr]:port`) `count` RTP packets (seq 0.., 160 bytes of
# payload) from argv[1] to argv[3]; B prints `<from-ip> <from-port> <hex>` per packet
# received within 2 s of the last.
import socket, struct, sys, time
a, b, relay, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def addr(s):
    h, p = s.rsplit(':', 1)
    return (h.strip('[]'), int(p))
family = socket.AF_INET6 if a.startswith('[') else socket.AF_INET
rx = socket.socket(family, socket.SOCK_DGRAM)
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
rx.bind(addr(b))
tx = socket.socket(family, socket.SOCK_DGRAM)
tx.bind(addr(a))
for seq in range(count):
    hdr = struct.pack('!BBHII', 0x80, 0, seq, seq * 160, 0x5eed)
    tx.sendto(hdr + bytes([seq & 0xff]) * 160, addr(relay))
    if seq % 16 == 15:
        time.sleep(0.002)
rx.settimeout(2)
try:
    while True:
        data, frm = rx.recvfrom(2048)
        print(frm[0], frm[1], data.hex(), flush=True)
except socket.timeout:
    pass
