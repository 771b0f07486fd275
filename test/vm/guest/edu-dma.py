#!/usr/bin/python3
# Makes QEMU's edu device (docs/specs/edu.rst in QEMU's source) start one DMA to or from an
# address no IOMMU domain maps, so that the guest kernel logs the IOMMU's fault.
#
#   edu-dma.py BDF read|write IOVA
#
# read: the device reads IOVA (RAM to device); write: it writes there (device to RAM). The edu
# device has no driver: its group's default domain maps nothing, so any IOVA faults under a
# translating IOMMU. The DMA engine clamps addresses to its dma_mask, 28 bits by default: the
# IOVA must be below 1 << 28.
import mmap
import os
import struct
import sys
import time

EDU_VENDOR, EDU_DEVICE = 0x1234, 0x11E8
# edu.rst: DMA source, destination, count and command registers, and the device's buffer.
DMA_SRC, DMA_DST, DMA_CNT, DMA_CMD = 0x80, 0x88, 0x90, 0x98
DMA_START, DMA_TO_RAM = 0x1, 0x2
EDU_BUFFER = 0x40000
# PCI_COMMAND (include/uapi/linux/pci_regs.h): memory space and bus master enable.
PCI_COMMAND, PCI_COMMAND_MEMORY, PCI_COMMAND_MASTER = 0x04, 0x2, 0x4


def main() -> int:
    bdf, direction, iova_text = sys.argv[1:4]
    iova = int(iova_text, 0)
    if iova >= 1 << 28:
        print("the IOVA must be below 1 << 28 (edu's dma_mask)", file=sys.stderr)
        return 2
    dev = f"/sys/bus/pci/devices/{bdf}"
    with open(f"{dev}/vendor") as f, open(f"{dev}/device") as g:
        if (int(f.read(), 16), int(g.read(), 16)) != (EDU_VENDOR, EDU_DEVICE):
            print(f"{bdf} is not an edu device", file=sys.stderr)
            return 2
    with open(f"{dev}/config", "r+b", buffering=0) as cfg:
        cfg.seek(PCI_COMMAND)
        (command,) = struct.unpack("<H", cfg.read(2))
        cfg.seek(PCI_COMMAND)
        cfg.write(struct.pack("<H", command | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER))
    fd = os.open(f"{dev}/resource0", os.O_RDWR | os.O_SYNC)
    try:
        bar = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)

    # One 8-byte access per register: edu ignores accesses of other sizes at 0x80 and above.
    regs = memoryview(bar).cast("Q")

    def write64(offset: int, value: int) -> None:
        regs[offset // 8] = value

    if direction == "read":
        write64(DMA_SRC, iova)
        write64(DMA_DST, EDU_BUFFER)
        cmd = DMA_START
    else:
        write64(DMA_SRC, EDU_BUFFER)
        write64(DMA_DST, iova)
        cmd = DMA_START | DMA_TO_RAM
    write64(DMA_CNT, 4096)
    write64(DMA_CMD, cmd)
    # The engine runs from a 100 ms timer; the fault interrupt follows.
    for _ in range(50):
        time.sleep(0.1)
        if not regs[DMA_CMD // 8] & DMA_START:
            break
    print(f"dma {direction} {iova:#x} programmed on {bdf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
