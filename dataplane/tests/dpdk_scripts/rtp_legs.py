# `legs` call legs at once, phone A sends `count` RTP packets from a:(42000+i) to the
# relay's port 31000+2i; phone B listens on b:(41000+i). Prints per leg `<i> <packets>
# <sources>` with the distinct source addresses B saw.
import select, socket, struct, sys, time
a, b, relay, legs, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rx, got, srcs = [], [0] * legs, [set() for _ in range(legs)]
for i in range(legs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((b, 41000 + i))
    s.setblocking(False)
    rx.append(s)
tx = []
for i in range(legs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a, 42000 + i))
    tx.append(s)
for seq in range(count):
    for i in range(legs):
        hdr = struct.pack('!BBHII', 0x80, 0, seq, seq * 160, 0x1000 + i)
        tx[i].sendto(hdr + b'\x55' * 160, (relay, 31000 + 2 * i))
    time.sleep(0.002)
deadline = time.time() + 2
while time.time() < deadline and sum(got) < legs * count:
    ready, _, _ = select.select(rx, [], [], 0.2)
    for s in ready:
        i = rx.index(s)
        while True:
            try:
                data, frm = s.recvfrom(2048)
            except BlockingIOError:
                break
            got[i] += 1
            srcs[i].add('%s:%d' % frm)
for i in range(legs):
    print(i, got[i], ','.join(sorted(srcs[i])))
