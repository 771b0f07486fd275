"""Prints "PFN VA" for each page frame given that process PID has mapped in an anonymous writable
region, from /proc/PID/maps and /proc/PID/pagemap (Documentation/admin-guide/mm/pagemap.rst:
bit 63 present, bits 0-54 the PFN; root only). The VM test's independent truth for the physical
address of memory a session mapped.

usage: pagemap.py PID PFN...   (PFNs in hex)"""
import struct
import sys

pid = sys.argv[1]
wanted = {int(p, 16) for p in sys.argv[2:]}
with open(f"/proc/{pid}/maps") as f:
    regions = []
    for line in f:
        fields = line.split()
        start, end = (int(x, 16) for x in fields[0].split("-"))
        # Anonymous (no path) or the heap, writable: where an mmap(MAP_ANONYMOUS) lands.
        if fields[1].startswith("rw") and (len(fields) < 6 or fields[5] == "[heap]"):
            if end - start <= 1 << 30:
                regions.append((start, end))
with open(f"/proc/{pid}/pagemap", "rb") as pm:
    for start, end in regions:
        pm.seek(start // 4096 * 8)
        data = pm.read((end - start) // 4096 * 8)
        for i, (entry,) in enumerate(struct.iter_unpack("<Q", data)):
            pfn = entry & ((1 << 55) - 1)
            if entry >> 63 and pfn in wanted:
                print(f"{pfn:x} {start + i * 4096:x}")
