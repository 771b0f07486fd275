"""A receiver of `iommuctl fds send` written without iommuctl: what a VMM's launcher in another
language does. Listens on argv[1], writes argv[2] once listening, takes one message with
socket.recv_fds, then proves each descriptor with the kernel: IOMMU_IOAS_ALLOC on the iommufd,
VFIO_DEVICE_BIND_IOMMUFD of each cdev to it. Prints what it got as JSON.
Usage: python3 test/vm/guest/recv-fds.py SOCKET READY_FILE
"""
import fcntl
import json
import os
import socket
import struct
import sys

# include/uapi/linux/iommufd.h and vfio.h: _IO(';', 0x81) and _IO(';', 100 + 18).
IOMMU_IOAS_ALLOC = 0x3B81
VFIO_DEVICE_BIND_IOMMUFD = 0x3B76

path, ready = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(1)
open(ready, "w").write("listening\n")
conn, _ = server.accept()
msg, fds, flags, _ = socket.recv_fds(conn, 65536, 64)
header = json.loads(msg)
out = {
    "header": header,
    "fds": len(fds),
    "targets": [os.readlink(f"/proc/self/fd/{fd}") for fd in fds],
}
# struct iommu_ioas_alloc {__u32 size; __u32 flags; __u32 out_ioas_id;}
buf = bytearray(struct.pack("=III", 12, 0, 0))
fcntl.ioctl(fds[0], IOMMU_IOAS_ALLOC, buf)
out["ioas"] = struct.unpack("=III", buf)[2]
# struct vfio_device_bind_iommufd {__u32 argsz; __u32 flags; __s32 iommufd; __u32 out_devid;}
out["devids"] = []
for fd in fds[1:]:
    buf = bytearray(struct.pack("=IIiI", 16, 0, fds[0], 0))
    fcntl.ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, buf)
    out["devids"].append(struct.unpack("=IIiI", buf)[3])
print(json.dumps(out))
