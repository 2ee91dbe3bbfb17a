# Sends `count` UDP datagrams `payload-<i>` from `src` to `dst`, then waits up to
# `wait` s for replies and prints each as `<from-ip> <from-port> <payload>`.
import socket, sys, time
src, dst, count, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
def addr(s):
    h, p = s.rsplit(':', 1)
    return (h, int(p))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(addr(src))
for i in range(count):
    s.sendto(b'payload-%d' % i, addr(dst))
    time.sleep(0.01)
s.settimeout(wait)
try:
    while True:
        data, frm = s.recvfrom(2048)
        print(frm[0], frm[1], data.decode(errors='replace'), flush=True)
except socket.timeout:
    pass
