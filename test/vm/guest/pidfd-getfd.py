"""Runs a command with another process's open file as its descriptor 3: the one descriptor of PID
whose /proc link is TARGET, duplicated with pidfd_getfd(2) (root: PTRACE_MODE_ATTACH_REALCREDS).
The copy shares the open file, so for /dev/iommu the command works in that process's iommufd
(ids, objects) as its own code does. Test code: how the VM tier reaches a session daemon's iommufd.
Usage: python3 test/vm/guest/pidfd-getfd.py PID TARGET COMMAND [ARG...]
"""
import ctypes
import os
import sys

SYS_pidfd_getfd = 438  # arch/x86/entry/syscalls/syscall_64.tbl (every architecture: 438)

pid, target, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
matches = []
for name in os.listdir(f"/proc/{pid}/fd"):
    try:
        if os.readlink(f"/proc/{pid}/fd/{name}") == target:
            matches.append(int(name))
    except OSError:
        pass
if len(matches) != 1:
    sys.exit(f"pid {pid} has {len(matches)} descriptors of {target}, not one")
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(pid)
fd = libc.syscall(SYS_pidfd_getfd, pidfd, matches[0], 0)
if fd < 0:
    sys.exit(f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
os.close(pidfd)
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
os.execvp(command[0], command)
