/**
 * The machines the VM tier boots. Each names the QEMU devices, the kernel command line it
 * adds, and a shell snippet run in the guest before the test's command.
 */
export interface Topology {
  name: TopologyName
  description: string
  qemu: string[]
  append: string
  setup?: string
  /** An nvme disk image is attached; the harness creates it in the scratch directory. */
  nvme?: boolean
}

export type TopologyName = 'intel' | 'virtio' | 'none' | 'amd'

/** QEMU's igb (82576) PCI device id: the PF whose SR-IOV VFs the intel topology enables. */
export const IGB_DEVICE_ID = '0x10c9'
export const IGB_VFS = 2

// prettier-ignore
export const TOPOLOGIES: Record<TopologyName, Topology> = {
  intel: {
    name: 'intel',
    description:
      'Intel VT-d in scalable mode with interrupt remapping: e1000e, igb with SR-IOV VFs, nvme, a virtio device with ATS, two e1000 behind a PCI bridge',
    qemu: [
      '-machine', 'q35,kernel-irqchip=split',
      '-device', 'intel-iommu,intremap=on,caching-mode=on,x-scalable-mode=on,x-pasid-mode=on',
      '-device', 'e1000e,addr=03.0',
      '-device', 'pcie-root-port,id=rp1,chassis=1,addr=04.0',
      '-device', 'igb,bus=rp1',
      '-device', 'pcie-root-port,id=rp2,chassis=2,addr=05.0',
      '-device', 'nvme,bus=rp2,serial=iommuctl0,drive=nvm0',
      '-device', 'pcie-root-port,id=rp3,chassis=3,addr=06.0',
      '-device', 'virtio-rng-pci,bus=rp3,ats=on,disable-legacy=on,iommu_platform=on',
      '-device', 'pci-bridge,id=br1,chassis_nr=4,addr=07.0',
      '-device', 'e1000,bus=br1,addr=01.0',
      '-device', 'e1000,bus=br1,addr=02.0',
    ],
    append: '',
    nvme: true,
    setup: `for d in /sys/bus/pci/devices/*; do
  [ "$(cat $d/device)" = ${IGB_DEVICE_ID} ] && [ -f $d/sriov_numvfs ] && echo ${IGB_VFS} > $d/sriov_numvfs
done
true`,
  },
  virtio: {
    name: 'virtio',
    description: 'virtio-iommu (no interrupt remapping) with an e1000e and a virtio-rng',
    qemu: [
      '-machine', 'q35',
      '-device', 'virtio-iommu-pci,addr=02.0',
      '-device', 'e1000e,addr=03.0',
      '-device', 'virtio-rng-pci,addr=04.0,disable-legacy=on,iommu_platform=on',
    ],
    append: '',
  },
  none: {
    name: 'none',
    description: 'no IOMMU at all, like the build machines: an e1000e on q35',
    qemu: ['-machine', 'q35', '-device', 'e1000e,addr=03.0'],
    append: '',
  },
  amd: {
    name: 'amd',
    // check_timer() panics ("timer doesn't work through Interrupt-remapped IO-APIC") under
    // TCG: no_timer_check skips that probe. QEMU 10.0's amd-iommu cannot translate DMA for
    // emulated devices (AHCI fails), so the guest uses identity domains (iommu=pt).
    description: 'AMD-Vi with interrupt remapping, identity default domains, an e1000e',
    qemu: ['-machine', 'q35,kernel-irqchip=split', '-device', 'amd-iommu,intremap=on', '-device', 'e1000e,addr=03.0'],
    append: 'iommu=pt',
  },
}
